import type { Redis } from "@upstash/redis/cloudflare";
import { type CacheTierName, type Config, ConfigError } from "../config";
import { type CacheStats, createMemoryCacheStats, createRedisCacheStats } from "./cache-stats";
import { type CacheStore, createCacheApiStore, createKvStore, createMemoryStore, createRedisStore } from "./cache-store";
import { createTieredCache, type TieredCache } from "./tiered-cache";

/**
 * The query cache's tiers for an environment: QUERY_CACHE_TIERS when set (an empty value turns the
 * cache off), else every tier the environment has — isolate memory, the Cache API, Workers KV, and
 * Upstash Redis when it is configured (its clients built with the other services, once per isolate).
 * Built once per isolate with the other services. Entries expire, and stats flush, by `now` (tests
 * move it instead of sleeping).
 *
 * `cache` reads every tier (the embedding cache, which runs next to the data). Answers are read in
 * two layers (cached-query-service.ts): `colo`, the tiers in the colo that runs the request (memory,
 * the Cache API), and `region`, the tiers whose data sits in one place (KV's central store, Redis),
 * read next to it by the query backend.
 */
/** The tiers whose entries live in the colo that wrote them. */
const COLO_TIERS = new Set<CacheTierName>(["memory", "cache-api"]);

export function createQueryCache(
  kv: KVNamespace | undefined,
  config: Config,
  redis: { strings: Redis; counters: Redis } | null,
  now: () => number = Date.now,
): { cache: TieredCache; colo: TieredCache; region: TieredCache; stats: CacheStats } {
  const available: Record<CacheTierName, () => CacheStore | null> = {
    memory: () =>
      createMemoryStore({ maxEntries: config.QUERY_CACHE_MEMORY_MAX_ENTRIES, maxBytes: config.QUERY_CACHE_MEMORY_MAX_BYTES }, now),
    "cache-api": () => (typeof caches === "undefined" ? null : createCacheApiStore(caches.default)),
    kv: () => (kv ? createKvStore(kv) : null),
    redis: () => (redis ? createRedisStore(redis.strings) : null),
  };
  const wanted = config.QUERY_CACHE_TIERS ?? (Object.keys(available) as CacheTierName[]);
  const stores: CacheStore[] = [];
  for (const name of wanted) {
    const store = available[name]();
    if (store) stores.push(store);
    else if (config.QUERY_CACHE_TIERS) throw new ConfigError([`QUERY_CACHE_TIERS: the ${name} tier is not available in this environment`]);
  }
  const tiered = (tiers: CacheStore[]) => createTieredCache(tiers, { maxEntryBytes: config.QUERY_CACHE_MAX_ENTRY_BYTES, now });
  const inColo = (store: CacheStore) => COLO_TIERS.has(store.name);
  return {
    cache: tiered(stores),
    colo: tiered(stores.filter(inColo)),
    region: tiered(stores.filter((store) => !inColo(store))),
    stats: redis ? createRedisCacheStats(redis.counters, { now }) : createMemoryCacheStats(),
  };
}
