import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import type { ListedApiKey } from "../auth/api-key-store";
import { notFound, quotaExceeded } from "../errors";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, jsonBody, jsonResponse, notFoundError, quotaErrors, RoleSchema, security, validationErrors } from "../schemas";

export function createApiKeyRoutes() {
  const apiKeyRoutes = new OpenAPIHono<AppEnv>();

  const CreateApiKeySchema = z
    .strictObject({
      name: z.string().trim().min(1).max(100),
      roles: z.array(RoleSchema).min(1).max(3),
      expires_in: z
        .number()
        .int()
        .min(60)
        .max(10 * 365 * 86_400)
        .optional()
        .openapi({ description: "Lifetime in seconds; omitted = never expires" }),
    })
    .openapi("CreateApiKey");

  const ApiKeySchema = z
    .object({
      id: z.string(),
      name: z.string(),
      roles: z.array(RoleSchema),
      created_at: z.string(),
      expires_at: z.string().nullable(),
      revoked_at: z.string().nullable(),
      last_used_at: z.string().nullable(),
      created_by: z.string().nullable().openapi({
        description: "Who created the key: `user:<name>`, `key:<id>`, an identity provider's subject, or `cli`",
      }),
      creator_disabled: z.boolean().nullable().openapi({
        description:
          "Keys belong to the tenant and outlive their creator: true when the creator can no longer act in the tenant (a user disabled, deleted or moved; a key revoked or expired), false when it can, null when the service cannot tell (an identity provider's subject, the CLI)",
      }),
    })
    .openapi("ApiKey");

  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const present = (record: ListedApiKey) => ({
    id: record.id,
    name: record.name,
    roles: record.roles,
    created_at: iso(record.created_at)!,
    expires_at: iso(record.expires_at),
    revoked_at: iso(record.revoked_at),
    last_used_at: iso(record.last_used_at),
    created_by: record.created_by,
    creator_disabled: record.creatorDisabled,
  });

  // Rate-limited in each handler, after validation: an invalid request costs no token.
  const admin = [authenticate({ role: "admin" })];

  const create = createRoute({
    method: "post",
    path: "/v1/api-keys",
    operationId: "createApiKey",
    summary: "Create an API key for the caller's tenant; the key is shown only in this response",
    security,
    middleware: admin,
    request: { body: jsonBody(CreateApiKeySchema) },
    responses: {
      201: jsonResponse(
        "The new key",
        z.object({ id: z.string(), key: z.string(), roles: z.array(RoleSchema), expires_at: z.string().nullable() }),
      ),
      ...validationErrors,
      ...authErrors,
      ...quotaErrors,
    },
  });

  apiKeyRoutes.openapi(create, async (c) => {
    const { name, roles, expires_in } = c.req.valid("json");
    await chargeRoute(c, "auth");
    const principal = c.var.principal;
    const limits = await c.var.services.tenantLimits.get(principal.tenant);
    const created = await c.var.services.apiKeys.create({
      tenant: principal.tenant,
      name,
      roles: [...new Set(roles)],
      expiresAt: expires_in === undefined ? null : Date.now() + expires_in * 1000,
      createdBy: principal.sub,
      maxActive: limits.maxApiKeys,
    });
    if (!created) {
      throw quotaExceeded(
        "api_keys",
        limits.maxApiKeys,
        limits.maxApiKeys,
        `the tenant already has ${limits.maxApiKeys} active API keys; revoke one first`,
      );
    }
    const { record, key } = created;
    return c.json({ id: record.id, key, roles: record.roles, expires_at: iso(record.expires_at) }, 201);
  });

  const list = createRoute({
    method: "get",
    path: "/v1/api-keys",
    operationId: "listApiKeys",
    summary: "The caller's tenant's API keys (never their secrets)",
    security,
    middleware: admin,
    responses: { 200: jsonResponse("The keys", z.object({ keys: z.array(ApiKeySchema) })), ...authErrors },
  });

  apiKeyRoutes.openapi(list, async (c) => {
    await chargeRoute(c, "auth");
    const records = await c.var.services.apiKeys.list(c.var.principal.tenant);
    return c.json({ keys: records.map(present) }, 200);
  });

  const revoke = createRoute({
    method: "delete",
    path: "/v1/api-keys/{id}",
    operationId: "revokeApiKey",
    summary: "Revoke a key; it stops working everywhere within API_KEY_CACHE_TTL_SECONDS",
    security,
    middleware: admin,
    request: {
      params: z.object({
        id: z
          .string()
          .regex(/^[a-z0-9]{16}$/)
          .openapi({ param: { name: "id", in: "path" } }),
      }),
    },
    responses: { 204: { description: "Revoked" }, ...authErrors, ...notFoundError },
  });

  apiKeyRoutes.openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "auth");
    // Another tenant's key is indistinguishable from a missing one.
    if (!(await c.var.services.apiKeys.revoke(c.var.principal.tenant, id))) throw notFound(`API key ${id}`);
    return c.body(null, 204);
  });
  return apiKeyRoutes;
}
