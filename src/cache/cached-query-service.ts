import type { Config } from "../config";
import { ApiError, type Problem } from "../errors";
import { metrics } from "../metrics";
import type { CacheOutcome, QueryContext, QueryEvent, QueryService } from "../query/query-service";
import { type QueryInput, type QueryMetadata, type QueryResponse, queryResponseSchemas } from "../query/schemas";
import type { TenantState } from "../store/tenant-store";
import { answerKey, lastGoodAnswerKey, retrievalCacheTag, searchKey } from "./cache-key";
import type { CacheStats } from "./cache-stats";
import type { CacheEntry, TieredCache } from "./tiered-cache";

/**
 * The query cache: a QueryService that wraps the real one (same interface, so no route knows it
 * is there). It runs as two layers of this one service (services.ts): the colo's tiers (isolate
 * memory, the Cache API) in front, and behind them, next to the data (the query backend), the
 * regional tiers (KV's central store, Redis) around the real service. So a miss crosses regions
 * once, for the backend call, instead of once for the remote tiers and once more for the backend.
 *
 * - The front layer keeps what the inner one computed (fresh) or had (with its age, so an entry is
 *   never fresh for longer than its TTL in all); it keeps nothing the inner one served stale. Only
 *   the front counts (`stats`): its own hits, and how the inner layer answered; an inner layer
 *   (`stats: null`) counts nothing, so every request is counted once. The inner layer keys with the
 *   tenant state the front keyed with (QueryContext.tenantState), so both agree on the index version
 *   and the front's staleness bound is the only one: the backend's isolate may hold an older one.
 * - Keyed by tenant, cache epoch, index version, the normalised request and the models (see
 *   cache-key.ts): an ingest or delete bumps the index version and old entries stop matching.
 * - Fresh for QUERY_CACHE_TTL_SECONDS; then, for QUERY_CACHE_SWR_SECONDS, served as `stale` and
 *   refreshed once in the background (stale-while-revalidate).
 * - When the origin cannot generate, the last good answer to the same request (kept for
 *   QUERY_CACHE_STALE_IF_ERROR_SECONDS, even from an older index version) is served as `stale`
 *   instead of the edge's extractive answer (stale-if-error), but only while every chunk it cites
 *   is still indexed: never once one of its documents was deleted or replaced (one D1 read).
 * - Only complete, non-degraded results are stored; a stream is stored when it completes, never
 *   when it broke off. Concurrent identical misses are computed each: sharing one request's
 *   pending computation with another is what Workers forbid (the waiting request is cancelled as
 *   hung, or fails touching I/O; test/e2e/concurrency.e2e.test.ts).
 * - `cache: false` bypasses every tier. A tier that fails or holds a corrupt entry is a miss.
 */
export interface CachedQueryServiceDeps {
  inner: QueryService;
  cache: TieredCache;
  tenantState: (tenant: string, background?: (work: Promise<unknown>) => void) => Promise<TenantState>;
  /** Whether the tenant still has every one of these chunks (hydrate.ts `chunksStillIndexed`). */
  chunksStillIndexed: (tenant: string, chunkIds: readonly string[]) => Promise<boolean>;
  /** Where hits and misses are counted; null for an inner layer (the outer one counts how it answered). */
  stats: CacheStats | null;
  config: Pick<Config, "QUERY_CACHE_TTL_SECONDS" | "QUERY_CACHE_SWR_SECONDS" | "QUERY_CACHE_STALE_IF_ERROR_SECONDS" | "ANSWER_MODEL_TAG"> &
    Partial<Pick<Config, "RERANKER">>;
  now?: () => number;
}

interface AnswerKeys {
  /** The tenant state the keys were made with (passed on to the inner layer). */
  state: TenantState;
  current: string;
  /** Computed only when needed (a miss), so that a hit hashes once. */
  lastGood: () => Promise<string>;
}

export function createCachedQueryService({
  inner,
  cache,
  tenantState,
  chunksStillIndexed,
  stats,
  config,
  now = Date.now,
}: CachedQueryServiceDeps): QueryService {
  const ttlMs = config.QUERY_CACHE_TTL_SECONDS * 1000;
  // A reranker changes results: its name is part of every key (none: keys as before).
  const retrievalTag = retrievalCacheTag({ RERANKER: config.RERANKER ?? "none" });
  const entryLifetime = config.QUERY_CACHE_TTL_SECONDS + config.QUERY_CACHE_SWR_SECONDS;
  const refreshing = new Set<string>();

  /** The tenant state this layer keys with: the outer layer's when it passed one (so both agree on the index version), else its own. */
  const stateFor = (tenant: string, context: QueryContext) => context.tenantState ?? tenantState(tenant, context.defer);
  /** The context the inner service gets: this layer's tenant state goes with it. */
  const passing = (context: QueryContext, tenantState: TenantState): QueryContext => ({ ...context, tenantState });

  async function keysOf(tenant: string, input: QueryInput, state: TenantState): Promise<AnswerKeys> {
    let lastGood: Promise<string> | undefined;
    return {
      state,
      current: await answerKey(tenant, state, input, config.ANSWER_MODEL_TAG, retrievalTag),
      lastGood: () => {
        lastGood ??= lastGoodAnswerKey(tenant, state, input, config.ANSWER_MODEL_TAG, retrievalTag);
        return lastGood;
      },
    };
  }

  /**
   * When a result the inner service returned was stored, or null when it must not be: a degraded or
   * stale result never is; one an inner cache layer had keeps the age it had there.
   */
  function storedAtOf(metadata: Pick<QueryMetadata, "cache" | "cache_ttl_s" | "degraded">): number | null {
    if (metadata.degraded || metadata.cache === "stale") return null;
    if (metadata.cache === "hit") return now() - ttlMs + (metadata.cache_ttl_s ?? 0) * 1000;
    return now();
  }

  /** Stores a complete answer under both keys; degraded or stale answers are never stored. */
  function store(keys: AnswerKeys, response: QueryResponse, context: QueryContext): void {
    const storedAt = storedAtOf(response.metadata);
    if (storedAt === null) return;
    context.defer(cache.put(keys.current, response, entryLifetime, storedAt));
    if (config.QUERY_CACHE_STALE_IF_ERROR_SECONDS > 0) {
      context.defer(keys.lastGood().then((key) => cache.put(key, response, config.QUERY_CACHE_STALE_IF_ERROR_SECONDS, storedAt)));
    }
  }

  /** Refreshes a stale entry once (per isolate) after the response. */
  function refresh(tenant: string, input: QueryInput, keys: AnswerKeys, context: QueryContext): void {
    if (refreshing.has(keys.current)) return;
    refreshing.add(keys.current);
    const background = {
      ...passing(context, keys.state),
      requestId: `${context.requestId}:refresh`,
      startedAt: performance.now(),
      refresh: true,
    };
    context.defer(
      inner
        .answer(tenant, input, background)
        .then((response) => store(keys, response, context))
        .finally(() => refreshing.delete(keys.current)),
    );
  }

  const isFresh = (entry: CacheEntry<unknown>) => now() - entry.storedAt < ttlMs;

  /** What a result served from the cache says about this request: its id, its time, where it came from. */
  const servedAs = (entry: CacheEntry<unknown>, status: "hit" | "stale", context: QueryContext) => ({
    query_time_ms: elapsed(context),
    request_id: context.requestId,
    cache: status,
    cache_tier: entry.tier,
    cache_ttl_s: Math.round((entry.storedAt + ttlMs - now()) / 1000),
  });

  function served(
    entry: CacheEntry<QueryResponse>,
    status: "hit" | "stale",
    context: QueryContext,
    extra: Partial<QueryMetadata> = {},
  ): QueryResponse {
    // Nothing was embedded, retrieved or generated for this request.
    const timings_ms = { embed: 0, retrieve: 0, generate: 0 };
    return { ...entry.value, metadata: { ...entry.value.metadata, ...extra, ...servedAs(entry, status, context), timings_ms } };
  }

  /** Counts how a result was served; `tier` is where a hit or stale result came from. */
  function count(tenant: string, operation: string, status: QueryMetadata["cache"], context: QueryContext, tier = "none"): void {
    if (!stats) return;
    metrics.cacheResults.inc({ operation, status, tier });
    if (status !== "bypass") context.defer(stats.record(tenant, status));
  }

  /** Counts a result the inner service returned as it says it was served (a miss, or an inner layer's hit). */
  const countInner = (tenant: string, operation: string, served: CacheOutcome, context: QueryContext) =>
    count(tenant, operation, served.cache, context, served.cache_tier);

  /** The cached answer, fresh or stale (then refreshed in the background), counted; null on a miss. */
  async function lookup(tenant: string, input: QueryInput, keys: AnswerKeys, operation: string, context: QueryContext) {
    const cached = await cache.get(keys.current, queryResponseSchemas().QueryResponseSchema, context.defer);
    if (!cached) return null;
    const status = isFresh(cached) ? "hit" : "stale";
    // An outer layer refreshing its own stale entry wants a fresh answer, not this one.
    if (status === "stale" && context.refresh) return null;
    if (status === "stale") refresh(tenant, input, keys, context);
    count(tenant, operation, status, context, cached.tier);
    return served(cached, status, context);
  }

  async function answer(tenant: string, input: QueryInput, context: QueryContext): Promise<QueryResponse> {
    if (!input.cache) {
      count(tenant, "answer", "bypass", context);
      return inner.answer(tenant, input, context);
    }
    const keys = await keysOf(tenant, input, await stateFor(tenant, context));
    const cached = await lookup(tenant, input, keys, "answer", context);
    if (cached) return cached;
    const computed = await inner.answer(tenant, input, passing(context, keys.state));
    const response = { ...computed, metadata: { ...computed.metadata, request_id: context.requestId, query_time_ms: elapsed(context) } };
    // (An inner layer that served its own last good answer said so: `stale`.)
    if (response.metadata.cache === "miss" && response.metadata.degraded_reasons.includes("generation_unavailable")) {
      // The origin cannot generate: the last good answer beats the edge's extractive one.
      const lastGood = await cache.get(await keys.lastGood(), queryResponseSchemas().QueryResponseSchema, context.defer);
      // Unverifiable (D1 failing) counts as gone: a deleted document's text must not come back.
      const sourceIds = lastGood?.value.sources.map((source) => source.id) ?? [];
      if (lastGood && (await chunksStillIndexed(tenant, sourceIds).catch(() => false))) {
        count(tenant, "answer", "stale", context, lastGood.tier);
        return served(lastGood, "stale", context, { degraded: true, degraded_reasons: ["generation_unavailable"] });
      }
    }
    store(keys, response, context);
    countInner(tenant, "answer", response.metadata, context);
    return response;
  }

  return {
    answer,

    async stream(tenant, input, context) {
      if (!input.cache) {
        count(tenant, "stream", "bypass", context);
        return inner.stream(tenant, input, context);
      }
      const keys = await keysOf(tenant, input, await stateFor(tenant, context));
      const cached = await lookup(tenant, input, keys, "stream", context);
      if (cached) return Object.assign(replay(cached), { cache: cached.metadata });
      const events = await inner.stream(tenant, input, passing(context, keys.state));
      countInner(tenant, "stream", events.cache, context);
      return Object.assign(
        recordCompleted(events, (response) => store(keys, response, context)),
        { cache: events.cache },
      );
    },

    async batch(tenant, entries, context) {
      // Entries the cache can answer are answered from it; the rest go to the real service as one
      // batch (one origin embedding call), and fill the cache.
      const results: Array<QueryResponse | Problem | undefined> = new Array(entries.length);
      const state = await stateFor(tenant, context);
      const pending: Array<{ position: number; entry: QueryInput | ApiError; keys?: AnswerKeys }> = [];
      await Promise.all(
        entries.map(async (entry, position) => {
          if (entry instanceof ApiError || !entry.cache) return void pending.push({ position, entry });
          const keys = await keysOf(tenant, entry, state);
          const cached = await cache.get(keys.current, queryResponseSchemas().QueryResponseSchema, context.defer);
          // A stale entry is recomputed with the batch rather than served.
          if (cached && isFresh(cached)) {
            count(tenant, "batch", "hit", context, cached.tier);
            results[position] = served(cached, "hit", context);
          } else pending.push({ position, entry, keys });
        }),
      );
      pending.sort((a, b) => a.position - b.position);
      const computed = await inner.batch(
        tenant,
        pending.map(({ entry }) => entry),
        passing(context, state),
      );
      for (const [index, { position, keys }] of pending.entries()) {
        const result = computed[index]!;
        results[position] = result;
        if ("code" in result) continue; // an invalid or failed entry: a problem, neither cached nor counted
        if (keys) store(keys, result, context);
        countInner(tenant, "batch", result.metadata, context);
      }
      return results as Array<QueryResponse | Problem>;
    },

    async search(tenant, input, context) {
      if (!input.cache) {
        count(tenant, "search", "bypass", context);
        return inner.search(tenant, input, context);
      }
      const state = await stateFor(tenant, context);
      const key = await searchKey(tenant, state, input, retrievalTag);
      const cached = await cache.get(key, queryResponseSchemas().SearchResponseSchema, context.defer);
      if (cached && isFresh(cached)) {
        count(tenant, "search", "hit", context, cached.tier);
        const timings_ms = { embed: 0, retrieve: 0 };
        return { ...cached.value, metadata: { ...cached.value.metadata, ...servedAs(cached, "hit", context), timings_ms } };
      }
      const response = await inner.search(tenant, input, passing(context, state));
      const storedAt = storedAtOf(response.metadata);
      if (storedAt !== null) context.defer(cache.put(key, response, entryLifetime, storedAt));
      countInner(tenant, "search", response.metadata, context);
      return response;
    },
  };
}

/** A cached answer as the events of a stream: its sources, the answer in one token, done. */
async function* replay(response: QueryResponse): AsyncGenerator<QueryEvent> {
  yield { type: "sources", sources: response.sources };
  yield { type: "token", text: response.answer };
  yield { type: "done", metadata: response.metadata };
}

/** Passes a stream through, and hands the whole answer over once it completed (never if it broke off). */
async function* recordCompleted(
  events: AsyncIterable<QueryEvent>,
  completed: (response: QueryResponse) => void,
): AsyncGenerator<QueryEvent> {
  let sources: QueryResponse["sources"] = [];
  const tokens: string[] = [];
  for await (const event of events) {
    if (event.type === "sources") sources = event.sources;
    else if (event.type === "token") tokens.push(event.text);
    else if (event.type === "done") completed({ answer: tokens.join(""), sources, metadata: event.metadata });
    yield event;
  }
}

const elapsed = (context: QueryContext) => Math.round((performance.now() - context.startedAt) * 10) / 10;
