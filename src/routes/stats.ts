import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { authenticate } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { authErrors, jsonResponse, security } from "../schemas";
import { countActiveApiKeys } from "../store/tenant-limits";

export function createStatsRoutes() {
  const statsRoutes = new OpenAPIHono<AppEnv>();

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
      usage: z
        .object({
          documents: z.number().int(),
          chunks: z.number().int(),
          bytes: z.number().int().openapi({ description: "UTF-8 bytes of the stored documents' text and metadata" }),
          api_keys: z.number().int().openapi({ description: "Active (neither revoked nor expired) API keys" }),
        })
        .openapi({ description: "What the tenant uses of its quotas" }),
      quota: z
        .object({
          plan: z.string().nullable(),
          documents: z.number().int(),
          chunks: z.number().int(),
          bytes: z.number().int(),
          api_keys: z.number().int(),
          rate_limits: z.object({ query: z.string(), ingest: z.string(), auth: z.string() }).openapi({
            description: "The tenant-wide buckets every key and user of the tenant shares, <limit>/<window>; ingest counts documents",
          }),
        })
        .openapi({ description: "The tenant's quotas: its plan's limits (the tenants row) over the service defaults" }),
    })
    .openapi("Stats");

  const read = createRoute({
    method: "get",
    path: "/v1/stats",
    operationId: "getStats",
    summary: "Counts and index facts for the caller's tenant",
    security,
    middleware: [authenticate({ role: "reader" }), rateLimit("query")],
    responses: { 200: jsonResponse("The tenant's statistics", StatsSchema), ...authErrors },
  });

  statsRoutes.openapi(read, async (c) => {
    const { tenant } = c.var.principal;
    const { db, tenantData, cacheStats, tenantLimits } = c.var.services;
    // The tenant's counters (one row in its object), not a scan of its documents.
    const [stats, cache, apiKeys, limits] = await Promise.all([
      tenantData(tenant).stats(),
      cacheStats.read(tenant),
      countActiveApiKeys(db, tenant),
      tenantLimits.get(tenant),
    ]);
    const rate = (w: { limit: number; window: string }) => `${w.limit}/${w.window.replace(" ", "")}`;
    const quota = {
      plan: limits.plan,
      documents: limits.maxDocuments,
      chunks: limits.maxChunks,
      bytes: limits.maxBytes,
      api_keys: limits.maxApiKeys,
      rate_limits: { query: rate(limits.rate.query), ingest: rate(limits.rate.ingest), auth: rate(limits.rate.auth) },
    };
    const { documents, chunks, bytes, collections, index_version, embedding_model } = stats;
    return c.json(
      {
        documents,
        chunks,
        collections,
        index_version,
        vector_dimensions: c.var.config.EMBEDDING_DIMENSIONS,
        embedding_model,
        cache,
        usage: { documents, chunks, bytes, api_keys: apiKeys },
        quota,
      },
      200,
    );
  });
  return statsRoutes;
}
