import type { CacheTierName } from "../config";
import { upstashFailure } from "../redis/upstash-redis";

/**
 * Port: one tier of the query cache — a key → string store where each entry has a lifetime.
 *
 * Promise: `get` returns the value `put` stored under that key, or null once it expired or was
 * evicted (every tier may evict early); never another key's value. Values are opaque strings: the
 * tiered cache serialises them and checks what comes back.
 * Failure modes: a failing tier rejects; the tiered cache turns that into a miss (logged and
 * counted), so a tier can never fail a query.
 * Consistency, latency and cost of a hit, tier by tier (fastest first):
 * - memory: this isolate only, lost on eviction; microseconds; free.
 * - cache-api: one Cloudflare location (colo), may be evicted any time; ~1 ms; free. (Not on
 *   workers.dev hostnames, where Cloudflare ignores cache.put: use a custom domain.)
 * - kv: global, eventually consistent (a write reaches other locations within ~60 s); hot reads
 *   a few ms, cold tens of ms; billed per read and write; lifetimes below 60 s are raised to 60 s.
 * - redis (Upstash, when configured): global, strongly consistent at its primary; one REST round
 *   trip (a few ms in-region); billed per command.
 */
export interface CacheStore {
  readonly name: CacheTierName;
  get(key: string): Promise<string | null>;
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
}

/**
 * A bounded LRU in isolate memory: at most `maxEntries` entries and `maxBytes` of keys and values
 * (UTF-16 code units, 2 bytes each: what the isolate holds), each until its lifetime ends; an entry
 * larger than `maxBytes` alone is not kept. A Map in recency order (a read moves its entry to the
 * end, eviction takes from the front) rather than lru-cache, whose 18 KiB minified the worker's
 * 150 KiB gzip budget could no longer carry; the conformance suite holds it to the same promise.
 */
export function createMemoryStore(options: { maxEntries: number; maxBytes: number }, now: () => number = Date.now): CacheStore {
  const entries = new Map<string, { value: string; bytes: number; expiresAt: number }>();
  let bytes = 0;
  const remove = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    bytes -= entry.bytes;
  };
  return {
    name: "memory",
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return null;
      remove(key);
      if (entry.expiresAt <= now()) return null;
      entries.set(key, entry);
      bytes += entry.bytes;
      return entry.value;
    },
    async put(key, value, ttlSeconds) {
      remove(key);
      const size = (key.length + value.length) * 2;
      if (size > options.maxBytes) return;
      entries.set(key, { value, bytes: size, expiresAt: now() + ttlSeconds * 1000 });
      bytes += size;
      for (const oldest of entries.keys()) {
        if (entries.size <= options.maxEntries && bytes <= options.maxBytes) break;
        remove(oldest);
      }
    },
  };
}

/** The Cache API of the location serving the request; keys become URLs on a host nobody resolves. */
export function createCacheApiStore(cache: Cache): CacheStore {
  const url = (key: string) => `https://query-cache.edge-rag.invalid/${key}`;
  return {
    name: "cache-api",
    async get(key) {
      const response = await cache.match(url(key));
      return response ? await response.text() : null;
    },
    async put(key, value, ttlSeconds) {
      const headers = { "content-type": "application/json", "cache-control": `max-age=${ttlSeconds}` };
      await cache.put(url(key), new Response(value, { headers }));
    },
  };
}

/** KV's smallest lifetime; shorter entries are checked for expiry when read. */
const KV_MIN_TTL_SECONDS = 60;

export function createKvStore(kv: KVNamespace, prefix = "query-cache:"): CacheStore {
  return {
    name: "kv",
    get: (key) => kv.get(prefix + key, "text"),
    put: (key, value, ttlSeconds) => kv.put(prefix + key, value, { expirationTtl: Math.max(KV_MIN_TTL_SECONDS, ttlSeconds) }),
  };
}

/**
 * The two commands the redis tier sends: @upstash/redis with `automaticDeserialization: false`
 * (src/redis/upstash-redis.ts, `rawValues`), so values stay our strings.
 */
export interface RedisStrings {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { ex: number }): Promise<unknown>;
}

/**
 * Upstash Redis over REST. A failure keeps the library's error but not the command it quotes (the
 * key, and for a write the whole answer), which the tiered cache would log.
 */
export function createRedisStore(redis: RedisStrings, prefix = "edge-rag:query-cache:"): CacheStore {
  const failed = (error: unknown) => Promise.reject(upstashFailure(error));
  return {
    name: "redis",
    get: (key) => redis.get(prefix + key).catch(failed),
    put: async (key, value, ttlSeconds) => void (await redis.set(prefix + key, value, { ex: ttlSeconds }).catch(failed)),
  };
}
