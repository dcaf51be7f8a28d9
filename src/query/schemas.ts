import { z } from "@hono/zod-openapi";
import { filtersSchema } from "../retrieval/filters";

/**
 * The query use case's request and response shapes, declared once: routes validate and document
 * with them (OpenAPI), the service and tests use the types inferred from them.
 *
 * Built on first use, not at module load (as chat/schemas.ts), in two parts: a new isolate's
 * startup builds none; its first query or search builds the requests' (to validate them); the
 * responses' are built only for what reads them: a query cache read, the MCP tools' output
 * schemas, /openapi.json (the routes document them with lazyJsonResponse).
 */

/** Longest source text in a response (the full chunk still goes to the generator). */
export const SOURCE_PREVIEW_CHARS = 500;

let requests: ReturnType<typeof buildRequests> | undefined;
let responses: ReturnType<typeof buildResponses> | undefined;
/** POST /v1/query's and /v1/search's bodies (and a batch's entries). */
export const querySchemas = () => (requests ??= buildRequests());
/** What a query or a search answers (also what the query cache stores). */
export const queryResponseSchemas = () => (responses ??= buildResponses());

function buildRequests() {
  const FiltersSchema = filtersSchema();

  const QueryTextSchema = z
    .string()
    .min(1)
    .max(2000)
    .refine((text) => text.trim().length > 0, "must not be blank")
    .openapi({ example: "How many points did the Panthers defense surrender?" });

  const RetrievalModeSchema = z.enum(["hybrid", "vector", "keyword"]).openapi({
    description:
      "hybrid: dense (Vectorize) and BM25 (D1 FTS5) retrieval fused with reciprocal-rank fusion; vector or keyword: one retriever",
  });

  const ExplainSchema = z
    .boolean()
    .default(false)
    .openapi({
      description:
        "true: each source carries `ranks` and `scores` per stage (vector, keyword, fusion, rerank). Part of the cache key: an " +
        "explained result is cached apart from the plain one.",
    });

  // ── POST /v1/query (and each entry of /v1/query/batch) ────────────────────────────────────────

  const QueryRequestSchema = z
    .strictObject({
      query: QueryTextSchema,
      top_k: z.number().int().min(1).max(50).default(5).openapi({ description: "How many sources to retrieve and answer from" }),
      mode: RetrievalModeSchema.default("hybrid"),
      filters: FiltersSchema.optional(),
      stream: z.boolean().default(false).openapi({ description: "Stream server-sent events (also chosen by `Accept: text/event-stream`)" }),
      explain: ExplainSchema,
      cache: z.boolean().default(true).openapi({ description: "false bypasses the query cache" }),
    })
    .openapi("QueryRequest");

  // ── POST /v1/search ───────────────────────────────────────────────────────────────────────────

  const SearchRequestSchema = z
    .strictObject({
      query: QueryTextSchema,
      top_k: z.number().int().min(1).max(100).default(10),
      mode: RetrievalModeSchema.default("hybrid"),
      filters: FiltersSchema.optional(),
      group_by: z
        .enum(["chunk", "document"])
        .default("chunk")
        .openapi({ description: "document: one result per document, its best-ranked chunk" }),
      explain: ExplainSchema,
      cache: z.boolean().default(true).openapi({ description: "false bypasses the query cache" }),
    })
    .openapi("SearchRequest");

  return { QueryTextSchema, RetrievalModeSchema, ExplainSchema, QueryRequestSchema, SearchRequestSchema };
}

function buildResponses() {
  const DegradedReasonSchema = z.enum([
    "embedding_unavailable",
    "embedding_fallback",
    "vector_index_unavailable",
    "generation_unavailable",
    "rerank_unavailable",
  ]);

  const CacheStatusSchema = z.enum(["hit", "miss", "stale", "bypass"]).openapi({
    description:
      "hit: served from the query cache, fresh; stale: served from the cache past its TTL (refreshed in the background), or the " +
      "last good answer while the origin cannot generate; miss: computed now (and cached); bypass: `cache: false` was asked",
  });

  /** Where a cached result came from and how long it stays fresh: present on `hit` and `stale` only. */
  const CacheDetailShape = {
    cache_tier: z.enum(["memory", "cache-api", "kv", "redis"]).optional().openapi({ description: "The cache tier that had the result" }),
    cache_ttl_s: z.number().int().optional().openapi({ description: "Seconds the cached result stays fresh; negative when served stale" }),
  };

  const DegradedSchema = z.boolean().openapi({
    description: "True when part of the pipeline fell back (see degraded_reasons); the answer is still grounded in the sources",
  });
  const DegradedReasonsSchema = z.array(DegradedReasonSchema).openapi({
    description:
      "embedding_unavailable / vector_index_unavailable: keyword (BM25) retrieval only; embedding_fallback: no origin could embed " +
      "the query, so Workers AI did with the origin's model family (production only) and hybrid retrieval still ran; " +
      "generation_unavailable: an extractive answer built at the edge from the top sources, with [n] citations; " +
      "rerank_unavailable: the configured reranker failed, so sources are in fused order",
  });

  // ── explain: true (each source's ranks and scores) ─────────────────────────────────────────────

  const StageRankSchema = z.number().int().min(1).nullable();

  const SourceRanksSchema = z
    .object({
      vector: StageRankSchema.openapi({
        description: "1-based rank among the dense (Vectorize) candidates; null: not among them, or no dense retrieval",
      }),
      keyword: StageRankSchema.openapi({
        description: "1-based rank among the BM25 candidates; null: not among them, or no keyword retrieval",
      }),
      rerank: StageRankSchema.openapi({
        description: "1-based rank given by the reranker; null: no rerank step ran (or the chunk was past its candidates)",
      }),
    })
    .openapi("SourceRanks", {
      description: "Present with `explain: true`: where each stage ranked the source (after the filter and the tenant check).",
    });

  const SourceScoresSchema = z
    .object({
      vector: z.number().nullable().openapi({
        description:
          "The vector index's score: cosine similarity (VECTOR_METRIC cosine), else its distance; null when not a dense candidate",
      }),
      keyword: z.number().nullable().openapi({
        description: "BM25 (FTS5's -bm25(), higher is better) against the tenant's own statistics; null when not a keyword candidate",
      }),
      fusion: z.number().openapi({
        description:
          "The raw fused value before normalisation: with FUSION rrf the weighted reciprocal-rank-fusion sum Σ weight/(RRF_K + rank); " +
          "with FUSION convex the weighted mean of the per-query normalised vector and BM25 scores (a missing one counts as its list's lowest)",
      }),
      rerank: z
        .number()
        .nullable()
        .openapi({ description: "The reranker's relevance score for (query, chunk); null when no rerank step ran" }),
    })
    .openapi("SourceScores", { description: "Present with `explain: true`: the source's score at each stage." });

  const SourceSchema = z
    .object({
      id: z.string().openapi({ description: "The chunk id" }),
      document_id: z.string(),
      text: z.string().openapi({ description: `The chunk text, at most ${SOURCE_PREVIEW_CHARS} characters, ending in "…" when cut` }),
      score: z
        .number()
        .min(0)
        .max(1)
        .openapi({
          description:
            "Relevance in 0..1: the fused score over the retrievers that returned candidates, divided by its maximum. With " +
            "FUSION rrf, the weighted reciprocal-rank-fusion score Σ weight/(RRF_K + rank) (weights RRF_VECTOR_WEIGHT, " +
            "RRF_KEYWORD_WEIGHT), so a chunk found by one retriever scores at most that retriever's share of the total weight; " +
            "with FUSION convex, the weighted mean of the per-query normalised scores (CONVEX_VECTOR_WEIGHT, FUSION_NORMALIZATION). " +
            "1.0 = first in every list. Comparable within a response, not an absolute probability. With a reranker configured " +
            "(RERANKER), the reranker's relevance score (0..1) of the reranked candidates instead.",
        }),
      page: z
        .number()
        .int()
        .min(1)
        .optional()
        .openapi({ description: "The PDF page (1-based) the chunk came from; absent where unknown (not a PDF)" }),
      section: z.string().optional().openapi({
        description:
          'The heading path of the part of the file the chunk came from, joined with " › " (HTML, DOCX, Markdown files), e.g. "Installation › Upgrades"; absent where unknown',
      }),
      metadata: z.record(z.string(), z.unknown()).openapi({ description: "The document's metadata, plus its `collection`" }),
      ranks: SourceRanksSchema.optional(),
      scores: SourceScoresSchema.optional(),
    })
    .openapi("QuerySource");

  // ── POST /v1/query (and each entry of /v1/query/batch) ────────────────────────────────────────

  /** What every query and search result says about how it was made. */
  const ResultMetadataShape = {
    query_time_ms: z.number(),
    cache: CacheStatusSchema,
    ...CacheDetailShape,
    degraded: DegradedSchema,
    degraded_reasons: DegradedReasonsSchema,
    index_version: z.number().int(),
    request_id: z.string(),
  };

  const QueryMetadataSchema = z
    .object({
      ...ResultMetadataShape,
      total_sources: z.number().int(),
      timings_ms: z.object({ embed: z.number(), retrieve: z.number(), generate: z.number() }).openapi({
        description: "embed: the origin's query embedding; retrieve: the whole retrieval phase (it overlaps embed); generate: the answer",
      }),
      finish_reason: z.enum(["stop", "length"]).optional().openapi({
        description:
          "length: the answer was cut at max_tokens; stop: it ended by itself; absent when the generator did not say (or no answer was generated)",
      }),
    })
    .openapi("QueryMetadata");

  const QueryResponseSchema = z
    .object({
      answer: z.string().openapi({ description: "Citations [n] refer to sources[n-1]" }),
      sources: z.array(SourceSchema),
      metadata: QueryMetadataSchema,
    })
    .openapi("QueryResponse");

  // ── POST /v1/search ───────────────────────────────────────────────────────────────────────────

  const SearchResponseSchema = z
    .object({
      results: z.array(SourceSchema),
      metadata: z.object({
        ...ResultMetadataShape,
        total_results: z.number().int(),
        timings_ms: z.object({ embed: z.number(), retrieve: z.number() }),
      }),
    })
    .openapi("SearchResponse");

  return {
    DegradedReasonSchema,
    CacheStatusSchema,
    SourceRanksSchema,
    SourceScoresSchema,
    SourceSchema,
    QueryMetadataSchema,
    QueryResponseSchema,
    SearchResponseSchema,
  };
}

type Requests = ReturnType<typeof buildRequests>;
type Responses = ReturnType<typeof buildResponses>;
export type RetrievalMode = z.infer<Requests["RetrievalModeSchema"]>;
export type DegradedReason = z.infer<Responses["DegradedReasonSchema"]>;
export type CacheStatus = z.infer<Responses["CacheStatusSchema"]>;
export type Source = z.infer<Responses["SourceSchema"]>;
export type QueryRequest = z.infer<Requests["QueryRequestSchema"]>;
/**
 * How the answer is generated, when a route lets the client say (POST /v1/chat/completions does;
 * /v1/query keeps the origin's defaults). Both are part of the answer's cache key.
 */
export interface GenerationOptions {
  /** At most this many tokens (the origin's default without it; MAX_ANSWER_TOKENS at most). */
  max_tokens?: number;
  /** The LLM's sampling temperature (0..2); the extractive generator ignores it. */
  temperature?: number;
}

/** What the query service needs: the request minus how the route serialises the answer. */
export type QueryInput = Omit<QueryRequest, "stream"> & { generation?: GenerationOptions };
export type QueryMetadata = z.infer<Responses["QueryMetadataSchema"]>;
export type QueryResponse = z.infer<Responses["QueryResponseSchema"]>;
export type SearchInput = z.infer<Requests["SearchRequestSchema"]>;
export type SearchResponse = z.infer<Responses["SearchResponseSchema"]>;
