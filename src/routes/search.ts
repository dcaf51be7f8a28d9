import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { authenticate } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { FiltersSchema } from "../retrieval/filters";
import { authErrors, jsonBody, jsonResponse, security, validationErrors } from "../schemas";
import { queryServiceFor, SourceSchema } from "./query";

/**
 * POST /v1/search: the retrieval of /v1/query without the answer. For clients that build their own
 * prompts, and for evaluation (recall@100 needs 100 ranked results, and document-level metrics
 * need one result per document). Not in the original API table: an addition, not a change.
 */
export const searchRoutes = new OpenAPIHono<AppEnv>();

const SearchRequestSchema = z
  .strictObject({
    query: z.string().min(1).max(2000).refine((text) => text.trim().length > 0, "must not be blank"),
    top_k: z.number().int().min(1).max(100).default(10),
    mode: z.enum(["hybrid", "vector", "keyword"]).default("hybrid"),
    filters: FiltersSchema.optional(),
    group_by: z.enum(["chunk", "document"]).default("chunk").openapi({ description: "document: one result per document, its best-ranked chunk" }),
  })
  .openapi("SearchRequest");

const SearchResponseSchema = z
  .object({
    results: z.array(SourceSchema),
    metadata: z.object({
      query_time_ms: z.number(),
      total_results: z.number().int(),
      degraded: z.boolean(),
      degraded_reasons: z.array(z.string()),
      index_version: z.number().int(),
      request_id: z.string(),
      timings_ms: z.object({ embed: z.number(), retrieve: z.number() }),
    }),
  })
  .openapi("SearchResponse");

const search = createRoute({
  method: "post",
  path: "/v1/search",
  summary: "Rank the tenant's chunks (or documents) for a query, without generating an answer",
  security,
  middleware: [authenticate({ role: "reader" }), rateLimit("query")],
  request: { body: jsonBody(SearchRequestSchema) },
  responses: { 200: jsonResponse("Ranked results", SearchResponseSchema), ...validationErrors, ...authErrors },
});

searchRoutes.openapi(search, async (c) => {
  const startedAt = performance.now();
  const input = c.req.valid("json");
  const response = await queryServiceFor(c.var).search(c.var.principal.tenant, input, { requestId: c.var.requestId, startedAt });
  c.header("cache-control", "no-store");
  return c.json(response, 200);
});
