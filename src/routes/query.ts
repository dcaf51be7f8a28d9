import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../app-env";
import { ApiError, fieldErrors, internalError, toProblem, validationFailed } from "../errors";
import { errorFields } from "../logger";
import { authenticate } from "../middleware/authenticate";
import { decide, principalKey, rateLimit, setRateLimitHeaders } from "../middleware/rate-limit";
import { FiltersSchema } from "../retrieval/filters";
import { createQueryService, SOURCE_PREVIEW_CHARS, type QueryInput, type QueryService } from "../retrieval/query-service";
import { authErrors, jsonBody, ProblemSchema, security, validationErrors } from "../schemas";

export const queryRoutes = new OpenAPIHono<AppEnv>();

export const MAX_BATCH_QUERIES = 32;

// ── Schemas ───────────────────────────────────────────────────────────────────────────────────

const QueryRequestSchema = z
  .strictObject({
    query: z.string().min(1).max(2000).refine((text) => text.trim().length > 0, "must not be blank").openapi({ example: "How many points did the Panthers defense surrender?" }),
    top_k: z.number().int().min(1).max(50).default(5).openapi({ description: "How many sources to retrieve and answer from" }),
    mode: z.enum(["hybrid", "vector", "keyword"]).default("hybrid").openapi({
      description: "hybrid: dense (Vectorize) and BM25 (D1 FTS5) retrieval fused with reciprocal-rank fusion; vector or keyword: one retriever",
    }),
    filters: FiltersSchema.optional(),
    stream: z.boolean().default(false).openapi({ description: "Stream server-sent events (also chosen by `Accept: text/event-stream`)" }),
    cache: z.boolean().default(true).openapi({ description: "false bypasses the query cache" }),
  })
  .openapi("QueryRequest");

export const SourceSchema = z
  .object({
    id: z.string().openapi({ description: "The chunk id" }),
    document_id: z.string(),
    text: z.string().openapi({ description: `The chunk text, at most ${SOURCE_PREVIEW_CHARS} characters, ending in "…" when cut` }),
    score: z.number().min(0).max(1).openapi({
      description:
        "Relevance in 0..1: the weighted reciprocal-rank-fusion score Σ weight/(RRF_K + rank) over the retrievers that " +
        "returned candidates (weights RRF_VECTOR_WEIGHT, RRF_KEYWORD_WEIGHT), divided by its maximum (being ranked first " +
        "by each of them). 1.0 = first in every list; a chunk found by one retriever scores at most that retriever's share " +
        "of the total weight. Comparable within a response, not an absolute probability.",
    }),
    metadata: z.record(z.string(), z.unknown()).openapi({ description: "The document's metadata, plus its `collection`" }),
  })
  .openapi("QuerySource");

const QueryMetadataSchema = z
  .object({
    query_time_ms: z.number(),
    total_sources: z.number().int(),
    cache: z.enum(["hit", "miss", "stale", "bypass"]),
    degraded: z.boolean().openapi({ description: "True when part of the pipeline fell back (see degraded_reasons); the answer is still grounded in the sources" }),
    degraded_reasons: z.array(z.enum(["embedding_unavailable", "vector_index_unavailable", "generation_unavailable"])).openapi({
      description:
        "embedding_unavailable / vector_index_unavailable: keyword (BM25) retrieval only; generation_unavailable: an extractive " +
        "answer built at the edge from the top sources, with [n] citations",
    }),
    index_version: z.number().int(),
    request_id: z.string(),
    timings_ms: z
      .object({ embed: z.number(), retrieve: z.number(), generate: z.number() })
      .openapi({ description: "embed: the origin's query embedding; retrieve: the whole retrieval phase (it overlaps embed); generate: the answer" }),
  })
  .openapi("QueryMetadata");

const QueryResponseSchema = z
  .object({
    answer: z.string().openapi({ description: "Citations [n] refer to sources[n-1]" }),
    sources: z.array(SourceSchema),
    metadata: QueryMetadataSchema,
  })
  .openapi("QueryResponse");

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
    results: z.array(z.union([QueryResponseSchema, ProblemSchema])).openapi({ description: "One entry per query, in order: a QueryResponse, or a problem for that query" }),
  })
  .openapi("QueryBatchResponse");

const STREAM_DESCRIPTION =
  "With `stream: true` or `Accept: text/event-stream`: server-sent events `sources` (once, first; data = the sources array), " +
  '`token` (data = {"text"}: answer deltas), then `done` (data = the metadata) — or `error` (data = a problem object) when ' +
  "the answer breaks off after it started.";

const reader = [authenticate({ role: "reader" }), rateLimit("query")];

// ── POST /v1/query ────────────────────────────────────────────────────────────────────────────

const query = createRoute({
  method: "post",
  path: "/v1/query",
  summary: "Answer a question from the tenant's documents, with cited sources",
  description:
    "Retrieves the top_k chunks (hybrid, vector or keyword), then answers with the origin's generator. When the origin " +
    "cannot embed the query the retrieval is keyword-only; when it cannot generate, the answer is extractive, built at the " +
    "edge. Either way metadata.degraded is true: a query the index can answer never fails with a 5xx. " + STREAM_DESCRIPTION,
  security,
  middleware: reader,
  request: { body: jsonBody(QueryRequestSchema) },
  responses: {
    200: {
      description: "The answer and its sources (JSON), or the same as server-sent events",
      content: { "application/json": { schema: QueryResponseSchema }, "text/event-stream": { schema: z.string() } },
    },
    ...validationErrors,
    ...authErrors,
  },
});

queryRoutes.openapi(query, async (c) => {
  const startedAt = performance.now();
  const input = c.req.valid("json");
  const { tenant } = c.var.principal;
  const requestId = c.var.requestId;
  const service = queryServiceFor(c.var);

  // Retrieval happens before any byte is sent, so its failures are ordinary problem responses.
  const prepared = await service.prepare(tenant, input, { requestId, startedAt, indexVersion: service.indexVersion(tenant) });
  c.header("cache-control", "no-store");

  if (!input.stream && !acceptsEventStream(c.req.header("accept"))) {
    return c.json(await service.answer(prepared), 200);
  }
  const response = streamSSE(c, async (stream) => {
    try {
      for await (const event of service.stream(prepared)) {
        if (stream.aborted) return;
        await stream.writeSSE(event);
      }
    } catch (error) {
      if (stream.aborted) return; // the client left; leaving the loop cancelled the origin stream
      c.var.log.error("query stream failed", errorFields(error));
      await stream.writeSSE({ event: "error", data: JSON.stringify(toProblem(internalError(), requestId)) }).catch(() => {});
    }
  });
  // streamSSE sets no-cache; answers are per principal and must never be stored.
  c.header("cache-control", "no-store");
  return response as never;
});

// ── POST /v1/query/batch ──────────────────────────────────────────────────────────────────────

const batch = createRoute({
  method: "post",
  path: "/v1/query/batch",
  summary: `Answer up to ${MAX_BATCH_QUERIES} queries at once`,
  description:
    "Each entry is a QueryRequest without streaming. All query embeddings come from one origin call; the queries then run " +
    "with bounded concurrency. An invalid or failed query yields a problem object in its place; the batch itself succeeds. " +
    "Each result's query_time_ms counts from the start of the batch; each query counts against the query rate limit.",
  security,
  // Rate-limited in the handler, once the number of queries (the cost) is known.
  middleware: [authenticate({ role: "reader" })],
  request: { body: jsonBody(BatchRequestSchema) },
  responses: { 200: { description: "One result per query", content: { "application/json": { schema: BatchResponseSchema } } }, ...validationErrors, ...authErrors },
});

queryRoutes.openapi(batch, async (c) => {
  const startedAt = performance.now();
  const { queries } = c.req.valid("json");
  const decision = await decide(c, "query", principalKey(c), queries.length);
  if (decision) setRateLimitHeaders(c, decision);
  const { tenant } = c.var.principal;
  const requestId = c.var.requestId;
  const service = queryServiceFor(c.var);

  // Each entry is validated on its own: a bad one becomes a problem in its place.
  const results = await service.batch(tenant, queries.map(parseBatchEntry), { requestId, startedAt });
  c.header("cache-control", "no-store");
  return c.json({ results }, 200);
});

// ── Helpers ───────────────────────────────────────────────────────────────────────────────────

export function queryServiceFor(vars: AppEnv["Variables"]): QueryService {
  const { services, config } = vars;
  return createQueryService({ db: services.db, vectors: services.vectors, origin: services.origin, config, metadataIndexes: config.VECTORIZE_METADATA_INDEXES });
}

/** A batch entry as a validated query, or the problem that replaces it in the results. */
function parseBatchEntry(raw: unknown): QueryInput | ApiError {
  const parsed = QueryRequestSchema.safeParse(raw);
  if (!parsed.success) return validationFailed(fieldErrors(parsed.error.issues));
  if (parsed.data.stream) return new ApiError("STREAM_NOT_SUPPORTED", "batch queries cannot stream; send stream: false, or use POST /v1/query");
  return parsed.data;
}

function acceptsEventStream(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => part.split(";")[0]!.trim().toLowerCase() === "text/event-stream");
}
