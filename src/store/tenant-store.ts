/**
 * The tenant row: its index version, which every write that changes what queries can find bumps
 * (so answers and caches keyed by it stop matching), and the embedding model that wrote its
 * vectors. This module owns every read and bump of `tenants.index_version`.
 *
 * Failure mode: D1's (StoreUnavailable through the guarded binding). Latency: one indexed D1 read.
 */
export interface TenantStore {
  /** The tenant's index version; 0 before its first write. */
  indexVersion(tenant: string): Promise<number>;
}

export function createTenantStore(db: D1Database): TenantStore {
  return {
    async indexVersion(tenant) {
      return (await indexVersionStatement(db, tenant).first<number>("index_version")) ?? 0;
    },
  };
}

/** The read, for callers that put it in a batch with other reads. */
export const indexVersionStatement = (db: D1Database, tenant: string) => db.prepare("SELECT index_version FROM tenants WHERE tenant = ?1").bind(tenant);
