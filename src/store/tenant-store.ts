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
  /** What the tenant's cached results depend on (index version, cache epoch, embedding model). */
  state(tenant: string): Promise<TenantState>;
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
 * cache hit costs no D1 round trip. That is the staleness bound: after an ingest commits, a document
 * is deleted or the cache epoch moves, queries answered by this isolate see it within `ttlSeconds`.
 * The isolate's own cache epoch bumps and deletes are seen at once (`forget`).
 */
export function withCachedState(store: TenantStore, ttlSeconds: number, now: () => number = Date.now): TenantStore {
  if (ttlSeconds <= 0) return store;
  // Settled values only, never a pending read: a request must not await another request's I/O
  // (workerd cancels it as hung, or fails it with "Cannot perform I/O on behalf of a different
  // request"). Concurrent first reads of a tenant each read the object once.
  const states = new Map<string, { value: TenantState; until: number }>();
  const state = async (tenant: string) => {
    const cached = states.get(tenant);
    if (cached && cached.until > now()) return cached.value;
    const value = await store.state(tenant);
    states.set(tenant, { value, until: now() + ttlSeconds * 1000 });
    if (states.size > 10_000) states.delete(states.keys().next().value!);
    return value;
  };
  return {
    indexVersion: async (tenant) => (await state(tenant)).indexVersion,
    state,
    async bumpCacheEpoch(tenant) {
      await store.bumpCacheEpoch(tenant);
      states.delete(tenant);
    },
    forget(tenant) {
      states.delete(tenant);
    },
  };
}
