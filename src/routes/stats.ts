import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { authenticate } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { authErrors, jsonResponse, security } from "../schemas";
import { getTenantStats } from "../store/tenant-store";

export const statsRoutes = new OpenAPIHono<AppEnv>();

const StatsSchema = z
  .object({
    documents: z.number().int().openapi({ description: "Stored documents (any status)" }),
    chunks: z.number().int().openapi({ description: "Searchable chunks" }),
    collections: z.number().int().openapi({ description: "Distinct collections of the stored documents" }),
    index_version: z.number().int(),
    vector_dimensions: z.number().int().openapi({ description: "Dimensions of the vector index" }),
    embedding_model: z.string().nullable().openapi({ description: "The model the origin reported at the last ingest; null before any" }),
    cache: z
      .object({
        hits: z.number().int(),
        misses: z.number().int(),
        stale: z.number().int(),
        hit_ratio: z
          .number()
          .nullable()
          .openapi({ description: "(hits + stale) / (hits + misses + stale); null before the first cached query" }),
        scope: z.enum(["global", "isolate"]).openapi({
          description: "global: counted in Redis across every isolate; isolate: this isolate's counts only (no Redis configured)",
        }),
      })
      .openapi({ description: "How the tenant's queries were answered by the query cache (cache: false requests are not counted)" }),
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
  const { tenant } = c.var.principal;
  const [stats, cache] = await Promise.all([getTenantStats(c.var.services.db, tenant), c.var.services.cacheStats.read(tenant)]);
  return c.json({ ...stats, vector_dimensions: c.var.config.EMBEDDING_DIMENSIONS, cache }, 200);
});
