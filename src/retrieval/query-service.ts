import { generateAnswer, streamAnswer, type AnswerEvent } from "../answer/generate-answer";
import type { Config } from "../config";
import { errorFields, log } from "../logger";
import { metrics } from "../metrics";
import { ApiError, internalError, toProblem, type Problem } from "../errors";
import type { OriginClient } from "../origin/origin-client";
import { mapWithConcurrency } from "./concurrency";
import { DEFAULT_METADATA_INDEXES, planFilters, type Filters, type MetadataIndexes } from "./filters";
import { embedQueries, retrieve, type DegradedReason, type EmbeddingOutcome, type Retrieval, type RetrievalMode } from "./retrieve";

/**
 * The query use case behind POST /v1/query and /v1/query/batch: retrieve, then answer (whole or
 * streamed), then describe what happened in `metadata`. Routes stay thin; this is where a query
 * cache will slot in (keyed by tenant, index_version and the normalised request; `cache` then
 * reports hit/stale instead of miss).
 */

export interface QueryInput {
  query: string;
  top_k: number;
  mode: RetrievalMode;
  filters?: Filters;
  cache: boolean;
}

export interface Source {
  id: string;
  document_id: string;
  text: string;
  score: number;
  metadata: Record<string, unknown>;
}

export type CacheStatus = "hit" | "miss" | "stale" | "bypass";

export interface QueryMetadata {
  query_time_ms: number;
  total_sources: number;
  cache: CacheStatus;
  degraded: boolean;
  degraded_reasons: DegradedReason[];
  index_version: number;
  request_id: string;
  timings_ms: { embed: number; retrieve: number; generate: number };
}

export interface QueryResponse {
  answer: string;
  sources: Source[];
  metadata: QueryMetadata;
}

/**
 * Batch queries in flight at once. A Worker may hold 6 outgoing connections per request; each
 * query holds at most ~2 at a time (D1 or the vector index, and the origin).
 */
export const BATCH_CONCURRENCY = 3;

/** Longest source text in a response (the full chunk still goes to the generator). */
export const SOURCE_PREVIEW_CHARS = 500;

export interface QueryServiceDeps {
  db: D1Database;
  vectors: Vectorize;
  origin: OriginClient;
  config: Pick<Config, "RRF_K" | "RRF_VECTOR_WEIGHT" | "RRF_KEYWORD_WEIGHT" | "RETRIEVAL_CANDIDATES" | "VECTOR_METRIC">;
  metadataIndexes?: MetadataIndexes;
}

/** A query whose retrieval is done and whose answer is still to come. */
export interface PreparedQuery {
  input: QueryInput;
  retrieval: Retrieval;
  sources: Source[];
  indexVersion: number;
  requestId: string;
  startedAt: number;
}

export type QueryServiceEvent = { event: "sources" | "token" | "done" | "error"; data: string };

/** Retrieval without an answer (POST /v1/search). */
export interface SearchInput {
  query: string;
  top_k: number;
  mode: RetrievalMode;
  filters?: Filters;
  /** `document`: one result per document (its best chunk), as document-level evaluation needs. */
  group_by: "chunk" | "document";
}

export interface SearchResponse {
  results: Source[];
  metadata: Omit<QueryMetadata, "cache" | "timings_ms" | "total_sources"> & { total_results: number; timings_ms: { embed: number; retrieve: number } };
}

/** Chunks fused before grouping by document: both retrievers' full candidate lists. */
export const SEARCH_CHUNKS_FOR_DOCUMENTS = 200;

export function createQueryService(deps: QueryServiceDeps) {
  const retriever = {
    db: deps.db,
    vectors: deps.vectors,
    rrfK: deps.config.RRF_K,
    weights: { vector: deps.config.RRF_VECTOR_WEIGHT, keyword: deps.config.RRF_KEYWORD_WEIGHT },
    candidates: deps.config.RETRIEVAL_CANDIDATES,
    metric: deps.config.VECTOR_METRIC,
  };
  const indexes = deps.metadataIndexes ?? DEFAULT_METADATA_INDEXES;

  /** The tenant's index version (0 before its first write). One D1 read. */
  async function indexVersion(tenant: string): Promise<number> {
    const row = await deps.db.prepare("SELECT index_version FROM tenants WHERE tenant = ?1").bind(tenant).first<{ index_version: number }>();
    return row?.index_version ?? 0;
  }

  /** Retrieval for one query; the embedding is made here unless the caller brings it (batch). */
  async function prepare(
    tenant: string,
    input: QueryInput,
    context: { requestId: string; startedAt: number; indexVersion: Promise<number>; embedding?: Promise<EmbeddingOutcome> },
  ): Promise<PreparedQuery> {
    const embedding =
      input.mode === "keyword" ? undefined : (context.embedding ?? embedQueries(deps.origin, [input.query]).then((outcomes) => outcomes[0]!));
    const [retrieval, version] = await Promise.all([
      retrieve(retriever, { tenant, query: input.query, mode: input.mode, topK: input.top_k, plan: planFilters(input.filters, indexes), embedding }),
      context.indexVersion,
    ]);
    return { input, retrieval, sources: retrieval.chunks.map(toSource), indexVersion: version, requestId: context.requestId, startedAt: context.startedAt };
  }

  /** The whole answer (origin generation, else the edge's extractive answer). */
  async function answer(prepared: PreparedQuery): Promise<QueryResponse> {
    const outcome = await generateAnswer(deps.origin, prepared.input.query, contextsOf(prepared));
    const metadata = metadataOf(prepared, outcome);
    recordMetrics(prepared.input.mode, metadata);
    return { answer: outcome.answer, sources: prepared.sources, metadata };
  }

  /** The answer as SSE records: `sources` once, `token` deltas, then `done` (or `error`). */
  async function* stream(prepared: PreparedQuery): AsyncGenerator<QueryServiceEvent> {
    yield { event: "sources", data: JSON.stringify(prepared.sources) };
    const events: AsyncGenerator<AnswerEvent> = streamAnswer(deps.origin, prepared.input.query, contextsOf(prepared));
    for await (const event of events) {
      if (event.type === "token") yield { event: "token", data: JSON.stringify({ text: event.text }) };
      else if (event.type === "done") {
        const metadata = metadataOf(prepared, event);
        recordMetrics(prepared.input.mode, metadata);
        yield { event: "done", data: JSON.stringify(metadata) };
      }
      else yield { event: "error", data: JSON.stringify(toProblem(event.error, prepared.requestId)) };
    }
  }

  /**
   * Answers a batch: one index-version read and ONE origin embedding call for all queries, then
   * the queries with bounded concurrency. An entry that is already an error (invalid) or fails
   * becomes a problem in its place; the batch itself never fails for one query.
   */
  async function batch(tenant: string, entries: ReadonlyArray<QueryInput | ApiError>, context: { requestId: string; startedAt: number }): Promise<Array<QueryResponse | Problem>> {
    const valid = entries.filter((entry): entry is QueryInput => !(entry instanceof ApiError));
    const needEmbedding = valid.filter((entry) => entry.mode !== "keyword");
    const version = valid.length > 0 ? indexVersion(tenant) : Promise.resolve(0);
    const embeddings = embedQueries(deps.origin, needEmbedding.map((entry) => entry.query));
    // Every entry awaits these; the no-op handlers only keep an early failure from being reported as unhandled.
    version.catch(() => {});
    embeddings.catch(() => {});

    return mapWithConcurrency(entries, BATCH_CONCURRENCY, async (entry): Promise<QueryResponse | Problem> => {
      if (entry instanceof ApiError) return toProblem(entry, context.requestId);
      const position = needEmbedding.indexOf(entry);
      const embedding = position === -1 ? undefined : embeddings.then((outcomes) => outcomes[position]!);
      try {
        return await answer(await prepare(tenant, entry, { ...context, indexVersion: version, embedding }));
      } catch (error) {
        if (error instanceof ApiError) return toProblem(error, context.requestId);
        log.error("batch query failed", { ...errorFields(error), request_id: context.requestId });
        return toProblem(internalError(), context.requestId);
      }
    });
  }

  /** Ranked sources only: no generation, so no origin call at all in keyword mode. */
  async function search(tenant: string, input: SearchInput, context: { requestId: string; startedAt: number }): Promise<SearchResponse> {
    const chunkLimit = input.group_by === "document" ? Math.max(input.top_k, SEARCH_CHUNKS_FOR_DOCUMENTS) : input.top_k;
    const prepared = await prepare(tenant, { ...input, top_k: chunkLimit, cache: false }, { ...context, indexVersion: indexVersion(tenant) });
    const seen = new Set<string>();
    const results =
      input.group_by === "document"
        ? prepared.sources.filter((source) => !seen.has(source.document_id) && seen.add(source.document_id)).slice(0, input.top_k)
        : prepared.sources;
    const { degraded, timings } = prepared.retrieval;
    return {
      results,
      metadata: {
        query_time_ms: ms(performance.now() - context.startedAt),
        total_results: results.length,
        degraded: degraded.length > 0,
        degraded_reasons: [...degraded],
        index_version: prepared.indexVersion,
        request_id: context.requestId,
        timings_ms: { embed: ms(timings.embed_ms), retrieve: ms(timings.retrieve_ms) },
      },
    };
  }

  return { indexVersion, prepare, answer, stream, batch, search };
}

export type QueryService = ReturnType<typeof createQueryService>;

/** The client asked to skip the cache, or there was none to hit (no query cache exists yet). */
export const cacheStatusOf = (input: Pick<QueryInput, "cache">): CacheStatus => (input.cache ? "miss" : "bypass");

const contextsOf = (prepared: PreparedQuery) => prepared.retrieval.chunks.map(({ id, text }) => ({ id, text }));

function toSource(chunk: Retrieval["chunks"][number]): Source {
  return {
    id: chunk.id,
    document_id: chunk.document_id,
    text: preview(chunk.text, SOURCE_PREVIEW_CHARS),
    score: Math.round(chunk.score * 10_000) / 10_000,
    metadata: { ...chunk.metadata, collection: chunk.collection },
  };
}

function metadataOf(prepared: PreparedQuery, generation: { degraded: boolean; generate_ms: number }): QueryMetadata {
  const reasons: DegradedReason[] = [...prepared.retrieval.degraded];
  if (generation.degraded) reasons.push("generation_unavailable");
  return {
    query_time_ms: ms(performance.now() - prepared.startedAt),
    total_sources: prepared.sources.length,
    cache: cacheStatusOf(prepared.input),
    degraded: reasons.length > 0,
    degraded_reasons: reasons,
    index_version: prepared.indexVersion,
    request_id: prepared.requestId,
    timings_ms: { embed: ms(prepared.retrieval.timings.embed_ms), retrieve: ms(prepared.retrieval.timings.retrieve_ms), generate: ms(generation.generate_ms) },
  };
}

/** Per-isolate Prometheus metrics: how often queries degrade, and where their time goes. */
function recordMetrics(mode: RetrievalMode, metadata: QueryMetadata): void {
  metrics.queries.inc({ mode, degraded: String(metadata.degraded) });
  for (const reason of metadata.degraded_reasons) metrics.queryDegraded.inc({ reason });
  for (const [phase, value] of Object.entries(metadata.timings_ms)) metrics.queryPhase.observe({ phase }, value);
}

const ms = (value: number) => Math.round(value * 10) / 10;

/** At most `max` characters, ending in "…" when cut (never inside a surrogate pair). */
export function preview(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}
