import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { authenticate } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { authErrors, security } from "../schemas";

/** DELETE /v1/cache: for operators, empties the tenant's query cache. */
export function createCacheRoutes() {
  const cacheRoutes = new OpenAPIHono<AppEnv>();

  const purge = createRoute({
    method: "delete",
    path: "/v1/cache",
    operationId: "purgeCache",
    summary: "Empty the caller's tenant's query cache",
    description:
      "Starts a new cache epoch for the tenant: every cached answer and search result of the tenant stops matching, in every " +
      "tier. This isolate sees it at once, the others within INDEX_VERSION_CACHE_SECONDS (5 s by default). Ingesting or " +
      "deleting documents needs no purge: it moves the tenant's index version, which every cache key contains.",
    security,
    middleware: [authenticate({ role: "admin" }), rateLimit("ingest")],
    responses: { 204: { description: "The tenant's cache is empty" }, ...authErrors },
  });

  cacheRoutes.openapi(purge, async (c) => {
    await c.var.services.tenants.bumpCacheEpoch(c.var.principal.tenant);
    return c.body(null, 204);
  });
  return cacheRoutes;
}
