import type { Redis } from "@upstash/redis/cloudflare";

/**
 * Per-tenant counts of how the query cache answered, for `/v1/stats`.
 *
 * Promise: `record` never throws (a lost count is not worth a failed query); `read` returns the
 * counts and their scope. With Redis they are global (HINCRBY, one command per answer, made after
 * the response); without it they are this isolate's only, and say so.
 */
export interface CacheStats {
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

const FIELDS = { hit: "hits", miss: "misses", stale: "stale" } as const;

function countsOf(raw: Partial<Record<"hits" | "misses" | "stale", number>>, scope: CacheCounts["scope"]): CacheCounts {
  const hits = Number(raw.hits ?? 0);
  const misses = Number(raw.misses ?? 0);
  const stale = Number(raw.stale ?? 0);
  const total = hits + misses + stale;
  return { hits, misses, stale, hit_ratio: total === 0 ? null : Math.round(((hits + stale) / total) * 10_000) / 10_000, scope };
}

export function createRedisCacheStats(redis: Redis, prefix = "edge-rag:cache-stats:"): CacheStats {
  return {
    async record(tenant, status) {
      await redis.hincrby(prefix + tenant, FIELDS[status], 1).catch(() => {});
    },
    async read(tenant) {
      const raw = (await redis.hgetall<Record<"hits" | "misses" | "stale", number>>(prefix + tenant)) ?? {};
      return countsOf(raw, "global");
    },
  };
}

export function createMemoryCacheStats(): CacheStats {
  const byTenant = new Map<string, Record<"hits" | "misses" | "stale", number>>();
  return {
    async record(tenant, status) {
      const counts = byTenant.get(tenant) ?? { hits: 0, misses: 0, stale: 0 };
      counts[FIELDS[status]] += 1;
      byTenant.set(tenant, counts);
    },
    async read(tenant) {
      return countsOf(byTenant.get(tenant) ?? {}, "isolate");
    },
  };
}
