import type { Redis } from "@upstash/redis/cloudflare";

/**
 * Per-tenant counts of how the query cache answered, for `/v1/stats`.
 *
 * Promise: `record` never throws (a lost count is not worth a failed query); `read` returns the
 * counts and their scope. With Redis they are global: each isolate adds its counts in memory and
 * flushes them in one pipeline at most every FLUSH_EVERY_MS (or every FLUSH_AT_COUNT answers),
 * so a cached answer costs no Redis command of its own; an isolate evicted between flushes loses
 * at most those seconds of counts. Its own unflushed counts are included in what it reads.
 * Without Redis the counts are this isolate's only, and say so.
 */
export interface CacheStats {
  /** Resolves when any flush it started is done (hand it to waitUntil). */
  record(tenant: string, status: "hit" | "miss" | "stale"): Promise<void>;
  read(tenant: string): Promise<CacheCounts>;
}

export interface CacheCounts {
  hits: number;
  misses: number;
  stale: number;
  /** (hits + stale) / all lookups; null before the first lookup. */
  hit_ratio: number | null;
  /** global: every isolate's answers (Redis); isolate: this isolate's since it started. */
  scope: "global" | "isolate";
}

type Field = "hits" | "misses" | "stale";
type Counts = Record<Field, number>;

const FIELD_OF = { hit: "hits", miss: "misses", stale: "stale" } as const;
export const FLUSH_EVERY_MS = 2_000;
export const FLUSH_AT_COUNT = 100;

const zero = (): Counts => ({ hits: 0, misses: 0, stale: 0 });

function countsOf(raw: Partial<Counts>, scope: CacheCounts["scope"]): CacheCounts {
  const { hits = 0, misses = 0, stale = 0 } = raw;
  const total = hits + misses + stale;
  return { hits, misses, stale, hit_ratio: total === 0 ? null : Math.round(((hits + stale) / total) * 10_000) / 10_000, scope };
}

export function createRedisCacheStats(redis: Redis, options: { prefix?: string; now?: () => number } = {}): CacheStats {
  const prefix = options.prefix ?? "edge-rag:cache-stats:";
  const now = options.now ?? Date.now;
  let pending = new Map<string, Counts>();
  let pendingCount = 0;
  let lastFlush = now();

  async function flush(): Promise<void> {
    const batch = pending;
    pending = new Map();
    pendingCount = 0;
    lastFlush = now();
    const pipeline = redis.pipeline();
    for (const [tenant, counts] of batch) {
      for (const field of Object.keys(counts) as Field[]) if (counts[field] > 0) pipeline.hincrby(prefix + tenant, field, counts[field]);
    }
    if (pipeline.length() > 0) await pipeline.exec().catch(() => {});
  }

  return {
    async record(tenant, status) {
      const counts = pending.get(tenant) ?? zero();
      counts[FIELD_OF[status]] += 1;
      pending.set(tenant, counts);
      pendingCount += 1;
      if (pendingCount >= FLUSH_AT_COUNT || now() - lastFlush >= FLUSH_EVERY_MS) await flush();
    },
    async read(tenant) {
      const stored = (await redis.hgetall<Partial<Record<Field, number>>>(prefix + tenant)) ?? {};
      const local = pending.get(tenant) ?? zero();
      const sum = (field: Field) => Number(stored[field] ?? 0) + local[field];
      return countsOf({ hits: sum("hits"), misses: sum("misses"), stale: sum("stale") }, "global");
    },
  };
}

export function createMemoryCacheStats(): CacheStats {
  const byTenant = new Map<string, Counts>();
  return {
    async record(tenant, status) {
      const counts = byTenant.get(tenant) ?? zero();
      counts[FIELD_OF[status]] += 1;
      byTenant.set(tenant, counts);
    },
    async read(tenant) {
      return countsOf(byTenant.get(tenant) ?? {}, "isolate");
    },
  };
}
