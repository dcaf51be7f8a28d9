import { type AnswerSource, generateAnswer, streamAnswer } from "../answer/generate-answer";
import type { EmbeddingOutcome, QueryEmbedder } from "../embedding/query-embedder";
import { ApiError, internalError, type Problem, toProblem } from "../errors";
import { errorFields, log } from "../logger";
import { metrics } from "../metrics";
import type { Origins } from "../origin/origin-client";
import type { Retrieval, Retriever } from "../retrieval/retrieve";
import type { TenantState, TenantStore } from "../store/tenant-store";
import { mapWithConcurrency } from "./concurrency";
import type { DegradedReason, QueryInput, QueryMetadata, QueryResponse, SearchInput, SearchResponse, Source } from "./schemas";
import { toSource } from "./sources";

/**
 * The query use case behind POST /v1/query, /v1/query/batch and /v1/search, built once per isolate
 * in `Services`. Each call reads the tenant's index version once, retrieves, then (except search)
 * answers: whole, streamed as domain events, or as a batch whose queries share one origin
 * embedding call. Routes validate, call one method and serialise; a cache wraps this interface and
 * a reranker is a step of retrieval, so neither teaches a route a new protocol.
 *
 * Failure modes: retrieval fails only when D1 does (StoreUnavailable, 503); an origin or vector
 * index outage degrades it to keyword-only instead. Generation never fails a query: without the
 * origin the answer is the edge's extractive one (degraded). A stream that already sent tokens
 * and then loses the origin ends with an `error` event.
 * Latency: max(query embedding + vector query, FTS query) + one hydration query + generation.
 */
export interface QueryService {
  answer(tenant: string, input: QueryInput, context: QueryContext): Promise<QueryResponse>;
  /**
   * Retrieves before it resolves (so retrieval failures reject it, before any byte is sent), then
   * yields `sources` once, the answer's `token`s, and `done` — or `error` if the answer breaks off.
   * How the cache answers is known by then, so a route can announce it before the first event.
   */
  stream(tenant: string, input: QueryInput, context: QueryContext): Promise<QueryEvents>;
  /** One result per entry, in order; an entry that is an error (invalid) or fails becomes a problem. */
  batch(tenant: string, entries: ReadonlyArray<QueryInput | ApiError>, context: QueryContext): Promise<Array<QueryResponse | Problem>>;
  /** Ranked sources without an answer: no origin call at all in keyword mode. */
  search(tenant: string, input: SearchInput, context: QueryContext): Promise<SearchResponse>;
}

export interface QueryContext {
  requestId: string;
  /** performance.now() when the request arrived: query_time_ms counts from here. */
  startedAt: number;
  /** Work that may outlive the response (cache fills, refreshes): ExecutionContext.waitUntil. */
  defer: (work: Promise<unknown>) => void;
  /** This call refreshes an outer cache layer's stale entry: an inner layer recomputes a stale entry of its own rather than serve it. */
  refresh?: boolean;
  /**
   * The tenant state an outer cache layer keyed this request with: an inner layer keys with the same,
   * so that both agree on the index version (the query backend's isolate may hold an older one).
   */
  tenantState?: TenantState;
}

export type QueryEvent =
  | { type: "sources"; sources: Source[] }
  | { type: "token"; text: string }
  | { type: "done"; metadata: QueryMetadata }
  | { type: "error"; error: ApiError };

/** A stream's events, and how the query cache answered it (what `done`'s metadata will say). */
export type QueryEvents = AsyncIterable<QueryEvent> & { cache: CacheOutcome };
export type CacheOutcome = Pick<QueryMetadata, "cache" | "cache_tier" | "cache_ttl_s">;

export interface QueryServiceDeps {
  tenants: TenantStore;
  embedder: QueryEmbedder;
  retriever: Retriever;
  origin: Origins;
}

/**
 * Batch queries in flight at once. A Worker may hold 6 outgoing connections per request; each
 * query holds at most ~2 at a time (D1 or the vector index, and the origin).
 */
export const BATCH_CONCURRENCY = 3;

/** Chunks fused before grouping by document: both retrievers' full candidate lists. */
export const SEARCH_CHUNKS_FOR_DOCUMENTS = 200;

type RetrievalInput = Pick<QueryInput, "query" | "mode" | "top_k" | "filters" | "cache" | "explain">;

interface Retrieved {
  retrieval: Retrieval;
  sources: Source[];
  indexVersion: number;
}

export function createQueryService({ tenants, embedder, retriever, origin }: QueryServiceDeps): QueryService {
  /** The index version and the retrieval, side by side; a batch brings both version and embedding. */
  async function retrieve(
    tenant: string,
    input: RetrievalInput,
    context: QueryContext,
    shared: { indexVersion?: Promise<number>; embedding?: Promise<EmbeddingOutcome> } = {},
  ): Promise<Retrieved> {
    const embedding =
      input.mode === "keyword"
        ? undefined
        : (shared.embedding ??
          embedder.embed([input.query], { tenant, cache: input.cache, defer: context.defer }).then(([outcome]) => outcome!));
    const [retrieval, indexVersion] = await Promise.all([
      retriever.retrieve({ tenant, query: input.query, mode: input.mode, topK: input.top_k, filters: input.filters, embedding }),
      shared.indexVersion ?? tenants.indexVersion(tenant),
    ]);
    return { retrieval, sources: retrieval.chunks.map((chunk) => toSource(chunk, input.explain)), indexVersion };
  }

  async function answerFrom(tenant: string, input: QueryInput, retrieved: Retrieved, context: QueryContext): Promise<QueryResponse> {
    const outcome = await generateAnswer(origin.forTenant(tenant), input.query, contextsOf(retrieved), input.generation);
    const metadata = metadataOf(input, retrieved, outcome, context);
    recordMetrics(input, metadata);
    return { answer: outcome.answer, sources: retrieved.sources, metadata };
  }

  async function* eventsFrom(tenant: string, input: QueryInput, retrieved: Retrieved, context: QueryContext): AsyncGenerator<QueryEvent> {
    yield { type: "sources", sources: retrieved.sources };
    for await (const event of streamAnswer(origin.forTenant(tenant), input.query, contextsOf(retrieved), input.generation)) {
      if (event.type === "token") yield event;
      else if (event.type === "error") yield event;
      else {
        const metadata = metadataOf(input, retrieved, event, context);
        recordMetrics(input, metadata);
        yield { type: "done", metadata };
      }
    }
  }

  return {
    async answer(tenant, input, context) {
      return answerFrom(tenant, input, await retrieve(tenant, input, context), context);
    },

    async stream(tenant, input, context) {
      const events = eventsFrom(tenant, input, await retrieve(tenant, input, context), context);
      return Object.assign(events, { cache: { cache: input.cache ? ("miss" as const) : ("bypass" as const) } });
    },

    async batch(tenant, entries, context) {
      const valid = entries.filter((entry): entry is QueryInput => !(entry instanceof ApiError));
      const needEmbedding = valid.filter((entry) => entry.mode !== "keyword");
      // One version read and ONE origin embedding call for the whole batch.
      const indexVersion = valid.length > 0 ? tenants.indexVersion(tenant) : Promise.resolve(0);
      // One call for all: its embeddings are cached unless an entry asked to bypass the cache.
      const cache = needEmbedding.every((entry) => entry.cache);
      const embeddings = embedder.embed(
        needEmbedding.map((entry) => entry.query),
        { tenant, cache, defer: context.defer },
      );
      // Every entry awaits these; the no-op handlers only keep an early failure from being reported as unhandled.
      indexVersion.catch(() => {});
      embeddings.catch(() => {});

      return mapWithConcurrency(entries, BATCH_CONCURRENCY, async (entry): Promise<QueryResponse | Problem> => {
        if (entry instanceof ApiError) return toProblem(entry, context.requestId);
        const position = needEmbedding.indexOf(entry);
        const embedding = position === -1 ? undefined : embeddings.then((outcomes) => outcomes[position]!);
        try {
          return await answerFrom(tenant, entry, await retrieve(tenant, entry, context, { indexVersion, embedding }), context);
        } catch (error) {
          if (error instanceof ApiError) return toProblem(error, context.requestId);
          log.error("batch query failed", { ...errorFields(error), request_id: context.requestId });
          return toProblem(internalError(), context.requestId);
        }
      });
    },

    async search(tenant, input, context) {
      const byDocument = input.group_by === "document";
      const topK = byDocument ? Math.max(input.top_k, SEARCH_CHUNKS_FOR_DOCUMENTS) : input.top_k;
      const retrieved = await retrieve(tenant, { ...input, top_k: topK }, context);
      const results = byDocument ? bestChunkPerDocument(retrieved.sources).slice(0, input.top_k) : retrieved.sources;
      const { degraded, timings } = retrieved.retrieval;
      return {
        results,
        metadata: {
          query_time_ms: ms(performance.now() - context.startedAt),
          total_results: results.length,
          cache: input.cache ? "miss" : "bypass",
          degraded: degraded.length > 0,
          degraded_reasons: [...degraded],
          index_version: retrieved.indexVersion,
          request_id: context.requestId,
          timings_ms: { embed: ms(timings.embed_ms), retrieve: ms(timings.retrieve_ms) },
        },
      };
    },
  };
}

const contextsOf = ({ retrieval }: Retrieved): AnswerSource[] => retrieval.chunks.map(({ id, text }) => ({ id, text }));

/** Sources are best first, so the first of each document is its best chunk. */
function bestChunkPerDocument(sources: Source[]): Source[] {
  const seen = new Set<string>();
  return sources.filter((source) => !seen.has(source.document_id) && seen.add(source.document_id));
}

function metadataOf(
  input: QueryInput,
  retrieved: Retrieved,
  generation: { degraded: boolean; generate_ms: number; finish_reason?: "stop" | "length" },
  context: QueryContext,
): QueryMetadata {
  const reasons: DegradedReason[] = [...retrieved.retrieval.degraded];
  if (generation.degraded) reasons.push("generation_unavailable");
  const { timings } = retrieved.retrieval;
  return {
    query_time_ms: ms(performance.now() - context.startedAt),
    total_sources: retrieved.sources.length,
    // Computed here, so a miss (or a bypass, when the client skipped the cache); the cache
    // (cache/cached-query-service.ts) rewrites this for what it serves.
    cache: input.cache ? "miss" : "bypass",
    degraded: reasons.length > 0,
    degraded_reasons: reasons,
    index_version: retrieved.indexVersion,
    request_id: context.requestId,
    timings_ms: { embed: ms(timings.embed_ms), retrieve: ms(timings.retrieve_ms), generate: ms(generation.generate_ms) },
    ...(generation.finish_reason ? { finish_reason: generation.finish_reason } : {}),
  };
}

/** Per-isolate Prometheus metrics: how often queries degrade, and where their time goes. */
function recordMetrics(input: QueryInput, metadata: QueryMetadata): void {
  metrics.queries.inc({ mode: input.mode, degraded: String(metadata.degraded) });
  for (const reason of metadata.degraded_reasons) metrics.queryDegraded.inc({ reason });
  for (const [phase, value] of Object.entries(metadata.timings_ms)) metrics.queryPhase.observe({ phase }, value);
}

const ms = (value: number) => Math.round(value * 10) / 10;
