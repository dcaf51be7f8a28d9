import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { isOperator, TENANT_PATTERN } from "../auth/principal";
import { forbidden } from "../errors";
import { authenticate } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { authErrors, jsonResponse, security } from "../schemas";

/**
 * Operators' routes over whole tenants (an operator is an admin of OPERATOR_TENANT): delete a
 * tenant, copy a tenant's rows from D1's shared tables into its object ahead of its traffic, and
 * list the tenants D1 still holds rows of. `edge-rag tenants delete` and `edge-rag migrate
 * tenant-data` call them.
 */
export function createTenantRoutes() {
  const tenantRoutes = new OpenAPIHono<AppEnv>();

  tenantRoutes.use("/v1/tenants/*", authenticate({ role: "admin" }), async (c, next) => {
    if (!isOperator(c.var.principal, c.var.config.OPERATOR_TENANT)) throw forbidden("managing tenants is for the service's operators");
    await next();
  });

  const TenantParamSchema = z.object({
    tenant: z
      .string()
      .regex(TENANT_PATTERN, "not a tenant id")
      .openapi({ param: { name: "tenant", in: "path" } }),
  });

  const TenantDeletionSchema = z
    .object({
      tenant: z.string(),
      api_keys: z.number().int().openapi({ description: "API keys deleted" }),
      users: z.number().int().openapi({ description: "Users deleted" }),
      documents: z.number().int().openapi({ description: "Documents the tenant's object held" }),
      vectors: z.number().int().openapi({ description: "Vector ids deleted from the index" }),
      files: z.number().int().openapi({ description: "Originals of documents made from files deleted from the files bucket" }),
    })
    .openapi("TenantDeletion");

  const remove = createRoute({
    method: "delete",
    path: "/v1/tenants/{tenant}",
    operationId: "deleteTenant",
    summary: "Delete a tenant: its credentials, its documents and index (its object's storage), its vectors, its files",
    description:
      "Operators only. Credentials go first (keys still cached elsewhere stop within API_KEY_CACHE_TTL_SECONDS), then the " +
      "vectors, then the object's storage; its cached answers never match again and expire with their TTL. Idempotent.",
    security,
    middleware: [rateLimit("ingest")],
    request: { params: TenantParamSchema },
    responses: { 200: jsonResponse("What was deleted", TenantDeletionSchema), ...authErrors },
  });

  tenantRoutes.openapi(remove, async (c) => {
    const { tenant } = c.req.valid("param");
    const deleted = await c.var.services.tenantAdmin.delete(tenant);
    c.var.log.info("tenant deleted", { ...deleted });
    return c.json(deleted, 200);
  });

  const DigestSchema = z.object({ digest: z.string(), counts: z.record(z.string(), z.number().int()) });
  const MigrationSchema = z
    .object({
      tenant: z.string(),
      status: z.enum(["copied", "unchanged", "changed", "in_use", "copying"]).openapi({
        description:
          "copied: every row in, and D1 read again gives the same checksum and counts; unchanged: copied before, and D1 still holds what was copied; changed: D1 was written during the copy, so the copy is discarded and the tenant answers 503 until its next start or call copies it again; in_use: the object holds data of its own and is never overwritten (counts only, no checksum); copying: this call copied for its time (about 20 s) and stopped, with `source` counting the rows so far: call again to go on from there",
      }),
      source: DigestSchema,
      target: DigestSchema.nullable(),
    })
    .openapi("TenantDataMigration");

  const migrate = createRoute({
    method: "post",
    path: "/v1/tenants/{tenant}/migrate-data",
    operationId: "migrateTenantData",
    summary: "Copy a tenant's rows from D1's shared tables into its object (what its object does by itself on first use)",
    security,
    middleware: [rateLimit("ingest")],
    request: { params: TenantParamSchema },
    responses: { 200: jsonResponse("The copy's outcome", MigrationSchema), ...authErrors },
  });

  tenantRoutes.openapi(migrate, async (c) => c.json(await c.var.services.tenantAdmin.migrate(c.req.valid("param").tenant), 200));

  const list = createRoute({
    method: "get",
    path: "/v1/tenants/with-d1-data",
    operationId: "listTenantsToMigrate",
    summary: "Tenants whose rows D1's shared tables still hold (deployments from before issue 23), in name order, a page at a time",
    security,
    middleware: [rateLimit("query")],
    request: {
      query: z.object({
        after: z.string().max(64).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
    },
    responses: { 200: jsonResponse("A page of tenants", z.object({ tenants: z.array(z.string()) })), ...authErrors },
  });

  tenantRoutes.openapi(list, async (c) => {
    const { after, limit } = c.req.valid("query");
    return c.json({ tenants: await c.var.services.tenantAdmin.tenantsWithD1Data(after ?? "", limit) }, 200);
  });
  return tenantRoutes;
}
