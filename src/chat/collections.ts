/**
 * The tenant's collections (port), for GET /v1/models: one model per collection. Read from the
 * documents table (its `documents_by_collection` index), so it follows wherever documents live.
 * Failure mode: the store's (StoreUnavailable, 503). Latency: one indexed read.
 */
export interface CollectionCatalog {
  /** The tenant's collection names, sorted (at most MAX_COLLECTIONS). */
  list(tenant: string): Promise<string[]>;
  /** Whether the tenant has a document in the collection. */
  has(tenant: string, collection: string): Promise<boolean>;
}

/** More collections than a model picker can show; the rest are still queryable by name. */
export const MAX_COLLECTIONS = 1000;

export function createD1CollectionCatalog(db: D1Database): CollectionCatalog {
  return {
    async list(tenant) {
      const { results } = await db
        .prepare("SELECT DISTINCT collection FROM documents WHERE tenant = ?1 ORDER BY collection LIMIT ?2")
        .bind(tenant, MAX_COLLECTIONS)
        .all<{ collection: string }>();
      return results.map((row) => row.collection);
    },
    async has(tenant, collection) {
      const row = await db
        .prepare("SELECT 1 AS found FROM documents WHERE tenant = ?1 AND collection = ?2 LIMIT 1")
        .bind(tenant, collection)
        .first();
      return row !== null;
    },
  };
}
