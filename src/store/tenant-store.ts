/**
 * The tenant row: its index version, which every write that changes what queries can find bumps
 * (so answers and caches keyed by it stop matching), its cache epoch, and the embedding model
 * that wrote its vectors. This module owns every read and bump of `tenants.index_version`.
 *
 * Failure mode: D1's (StoreUnavailable through the guarded binding). Latency: one indexed D1 read.
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

export function createTenantStore(db: D1Database): TenantStore {
  const state = async (tenant: string): Promise<TenantState> => {
    const row = await db
      .prepare("SELECT index_version, cache_epoch, embedding_model FROM tenants WHERE tenant = ?1")
      .bind(tenant)
      .first<{ index_version: number; cache_epoch: number; embedding_model: string | null }>();
    return { indexVersion: row?.index_version ?? 0, cacheEpoch: row?.cache_epoch ?? 0, embeddingModel: row?.embedding_model ?? null };
  };
  return {
    indexVersion: async (tenant) => (await state(tenant)).indexVersion,
    state,
    async bumpCacheEpoch(tenant) {
      await db
        .prepare(
          `INSERT INTO tenants (tenant, index_version, updated_at, cache_epoch) VALUES (?1, 0, ?2, 1)
           ON CONFLICT (tenant) DO UPDATE SET cache_epoch = cache_epoch + 1, updated_at = excluded.updated_at`,
        )
        .bind(tenant, Date.now())
        .run();
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
  // request"). Concurrent first reads of a tenant each read D1 once.
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

/** The read, for callers that put it in a batch with other reads. */
export const indexVersionStatement = (db: D1Database, tenant: string) =>
  db.prepare("SELECT index_version FROM tenants WHERE tenant = ?1").bind(tenant);

/** The index version in the rows `indexVersionStatement` returned (0 when the tenant has no row yet). */
export const readIndexVersion = (rows: unknown[]): number => (rows[0] as { index_version?: number } | undefined)?.index_version ?? 0;

/** A condition on the batch's own writes: SQL that may use ?1 (the tenant) and ?4, ?5, … for `params`. */
export interface BumpGuard {
  sql: string;
  params: unknown[];
}

/**
 * The bump, for the D1 batch whose writes change what queries find: the tenant's index version
 * + 1 (the row is created at 1 on first use), only when `when` holds after the statements before
 * it in the batch. `embeddingModel` (what the origin reported, when it was called) is remembered
 * as the tenant's; null keeps the one on record.
 */
export function bumpIndexVersionStatement(
  db: D1Database,
  tenant: string,
  now: number,
  when: BumpGuard,
  embeddingModel: string | null = null,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO tenants (tenant, index_version, updated_at, embedding_model) SELECT ?1, 1, ?2, ?3 WHERE ${when.sql}
       ON CONFLICT (tenant) DO UPDATE SET index_version = index_version + 1, updated_at = excluded.updated_at,
         embedding_model = COALESCE(excluded.embedding_model, tenants.embedding_model)`,
    )
    .bind(tenant, now, embeddingModel, ...when.params);
}

export interface TenantStats {
  documents: number;
  chunks: number;
  collections: number;
  index_version: number;
  /** The model the origin reported at the tenant's last ingest; null before any. */
  embedding_model: string | null;
}

/** Counts of the tenant's documents, chunks and collections, with its index version and embedding model, in one D1 read. */
export async function getTenantStats(db: D1Database, tenant: string): Promise<TenantStats> {
  const row = await db
    .prepare(
      `SELECT (SELECT COUNT(*) FROM documents WHERE tenant = ?1) AS documents,
              (SELECT COUNT(*) FROM chunks WHERE tenant = ?1) AS chunks,
              (SELECT COUNT(DISTINCT collection) FROM documents WHERE tenant = ?1) AS collections,
              (SELECT index_version FROM tenants WHERE tenant = ?1) AS index_version,
              (SELECT embedding_model FROM tenants WHERE tenant = ?1) AS embedding_model`,
    )
    .bind(tenant)
    .first<{ documents: number; chunks: number; collections: number; index_version: number | null; embedding_model: string | null }>();
  return {
    documents: row?.documents ?? 0,
    chunks: row?.chunks ?? 0,
    collections: row?.collections ?? 0,
    index_version: row?.index_version ?? 0,
    embedding_model: row?.embedding_model ?? null,
  };
}
