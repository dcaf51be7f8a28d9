import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { authenticate } from "../middleware/authenticate";
import { authErrors, jsonResponse, RoleSchema, security } from "../schemas";

export function createMeRoutes() {
  const meRoutes = new OpenAPIHono<AppEnv>();

  const me = createRoute({
    method: "get",
    path: "/v1/me",
    operationId: "getMe",
    summary: "Who the presented credential authenticates as",
    security,
    middleware: [authenticate()],
    responses: {
      200: jsonResponse(
        "The principal",
        z.object({ sub: z.string(), tenant: z.string(), roles: z.array(RoleSchema), auth: z.enum(["jwt", "api_key"]) }),
      ),
      ...authErrors,
    },
  });

  meRoutes.openapi(me, (c) => {
    const { sub, tenant, roles, auth } = c.var.principal;
    return c.json({ sub, tenant, roles, auth }, 200);
  });
  return meRoutes;
}
