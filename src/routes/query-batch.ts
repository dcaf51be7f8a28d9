import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { ApiError, fieldErrors, validationFailed } from "../errors";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { type QueryInput, queryResponseSchemas, querySchemas } from "../query/schemas";
import { authErrors, jsonBody, problemSchema, security, validationErrors } from "../schemas";
import { batchCacheStatusHeader, queryContext } from "./query-http";

/** POST /v1/query/batch: up to 32 queries in one request, one result (or problem) each. */
export const MAX_BATCH_QUERIES = 32;

export function createQueryBatchRoutes() {
  const queryBatchRoutes = new OpenAPIHono<AppEnv>();
  const { QueryRequestSchema } = querySchemas();
  const { QueryResponseSchema } = queryResponseSchemas();

  const BatchRequestSchema = z
    .strictObject({
      // Entries are validated one by one below, so that one bad query yields one problem entry.
      queries: z
        .array(z.unknown().openapi({ description: "A QueryRequest (stream must be false)" }))
        .min(1)
        .max(MAX_BATCH_QUERIES),
    })
    .openapi("QueryBatchRequest");

  const BatchResponseSchema = z
    .object({
      results: z
        .array(z.union([QueryResponseSchema, problemSchema()]))
        .openapi({ description: "One entry per query, in order: a QueryResponse, or a problem for that query" }),
    })
    .openapi("QueryBatchResponse");

  const batch = createRoute({
    method: "post",
    path: "/v1/query/batch",
    operationId: "queryBatch",
    summary: `Answer up to ${MAX_BATCH_QUERIES} queries at once`,
    description:
      "Each entry is a QueryRequest without streaming. All query embeddings come from one origin call; the queries then run " +
      "with bounded concurrency. An invalid or failed query yields a problem object in its place; the batch itself succeeds. " +
      "Each result's query_time_ms counts from the start of the batch; each query counts against the query rate limit.",
    security,
    // Rate-limited in the handler, once the number of queries (the cost) is known.
    middleware: [authenticate({ role: "reader" })],
    request: { body: jsonBody(BatchRequestSchema) },
    responses: {
      200: { description: "One result per query", content: { "application/json": { schema: BatchResponseSchema } } },
      ...validationErrors,
      ...authErrors,
    },
  });

  queryBatchRoutes.openapi(batch, async (c) => {
    const context = queryContext(c);
    const { queries } = c.req.valid("json");
    await chargeRoute(c, "query", queries.length);
    const results = await c.var.services.query.batch(c.var.principal.tenant, queries.map(parseEntry), context);
    const answered = results.flatMap((result) => ("code" in result ? [] : [result.metadata]));
    c.header("cache-status", batchCacheStatusHeader(results.map((result) => ("code" in result ? undefined : result.metadata))));
    c.set("queryOutcome", answered);
    return c.json({ results }, 200);
  });

  /** A batch entry as a validated query, or the problem that replaces it in the results. */
  function parseEntry(raw: unknown): QueryInput | ApiError {
    const parsed = QueryRequestSchema.safeParse(raw);
    if (!parsed.success) return validationFailed(fieldErrors(parsed.error.issues));
    const { stream, ...input } = parsed.data;
    if (stream) return new ApiError("STREAM_NOT_SUPPORTED", "batch queries cannot stream; send stream: false, or use POST /v1/query");
    return input;
  }
  return queryBatchRoutes;
}
