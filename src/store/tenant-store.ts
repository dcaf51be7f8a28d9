import { createIsolateCache } from "../shared/isolate-cache";
import type { TenantDataFor } from "../tenant/tenant-data-port";

/**
 * The tenant's state as its object keeps it: its index version, which every write that changes
 * what queries can find bumps (so answers and caches keyed by it stop matching), its cache epoch,
 * and the embedding model that wrote its vectors.
 *
 * Failure mode: the object's (StoreUnavailable through the port). Latency: one RPC to the object,
 * which reads one row.
 */
export interface TenantStore {
  /** The tenant's index version; 0 before its first write. */
  indexVersion(tenant: string): Promise<number>;
  /**
   * What the tenant's cached results depend on (index version, cache epoch, embedding model).
   * `background` takes the re-read of a state past half its cache time (hand it to waitUntil).
   */
  state(tenant: string, background?: (work: Promise<unknown>) => void): Promise<TenantState>;
  /** Starts a new cache epoch: every cached result of the tenant stops matching. */
  bumpCacheEpoch(tenant: string): Promise<void>;
  /** Forgets what this isolate remembers of the tenant, after a write of its own (a delete) moved it. */
  forget(tenant: string): void;
}

/** What a tenant's results depend on besides the request: part of every query cache key. */
export interface TenantState {
  indexVersion: number;
  /** Bumped by DELETE /v1/cache: every earlier cache entry of the tenant stops matching. */
  cacheEpoch: number;
  /** The model that embedded the tenant's documents (and must embed its queries). */
  embeddingModel: string | null;
}

export function createTenantStore(tenantData: TenantDataFor): TenantStore {
  const state = async (tenant: string): Promise<TenantState> => {
    const stats = await tenantData(tenant).stats();
    return { indexVersion: stats.index_version, cacheEpoch: stats.cache_epoch, embeddingModel: stats.embedding_model };
  };
  return {
    indexVersion: async (tenant) => (await state(tenant)).indexVersion,
    state,
    async bumpCacheEpoch(tenant) {
      await tenantData(tenant).bumpCacheEpoch();
    },
    forget() {},
  };
}

/**
 * The same store, with each tenant's state trusted for `ttlSeconds` in this isolate, so that a
 * cache hit costs no round trip to the tenant's object. That is the staleness bound: after an
 * ingest commits, a document is deleted or the cache epoch moves, queries answered by this isolate
 * see it within `ttlSeconds`. The isolate's own cache epoch bumps and deletes are seen at once
 * (`forget`). A state past half its time is read again after the response (`background`,
 * waitUntil), as keys and limits are: a tenant in steady use (a request per isolate at least every
 * `ttlSeconds / 2`) never waits on its object on the hit path, and the bound stays `ttlSeconds`.
 * Why not a copy in KV, which colos read without crossing regions: KV caches a read for at least
 * 60 s (its minimum cacheTtl), so the bound would grow from seconds to over a minute.
 */
export function withCachedState(store: TenantStore, ttlSeconds: number, now: () => number = Date.now): TenantStore {
  if (ttlSeconds <= 0) return store;
  const states = createIsolateCache((tenant) => store.state(tenant), { ttlMs: ttlSeconds * 1000, now });
  const state = (tenant: string, background?: (work: Promise<unknown>) => void) => states.get(tenant, background);
  return {
    indexVersion: async (tenant) => (await state(tenant)).indexVersion,
    state,
    async bumpCacheEpoch(tenant) {
      await store.bumpCacheEpoch(tenant);
      states.forget(tenant);
    },
    forget(tenant) {
      states.forget(tenant);
    },
  };
}
