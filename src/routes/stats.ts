import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { getTenantStats } from "../store/tenant-store";
import { authenticate } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { authErrors, jsonResponse, security } from "../schemas";

export const statsRoutes = new OpenAPIHono<AppEnv>();

const StatsSchema = z
  .object({
    documents: z.number().int().openapi({ description: "Stored documents (any status)" }),
    chunks: z.number().int().openapi({ description: "Searchable chunks" }),
    collections: z.number().int().openapi({ description: "Distinct collections of the stored documents" }),
    index_version: z.number().int(),
    vector_dimensions: z.number().int().openapi({ description: "Dimensions of the vector index" }),
    embedding_model: z.string().nullable().openapi({ description: "The model the origin reported at the last ingest; null before any" }),
  })
  .openapi("Stats");

const read = createRoute({
  method: "get",
  path: "/v1/stats",
  summary: "Counts and index facts for the caller's tenant",
  security,
  middleware: [authenticate({ role: "reader" }), rateLimit("query")],
  responses: { 200: jsonResponse("The tenant's statistics", StatsSchema), ...authErrors },
});

statsRoutes.openapi(read, async (c) => {
  const stats = await getTenantStats(c.var.services.db, c.var.principal.tenant);
  return c.json({ ...stats, vector_dimensions: c.var.config.EMBEDDING_DIMENSIONS }, 200);
});
