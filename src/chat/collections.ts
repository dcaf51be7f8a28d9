import type { TenantDataFor } from "../tenant/tenant-data-port";

/**
 * The tenant's collections (port), for GET /v1/models: one model per collection. Read from the
 * tenant's object, whose `collections` table its documents keep by trigger (one row per collection
 * that has a document). Failure mode: the object's (StoreUnavailable, 503). Latency: one call to
 * the tenant's object.
 */
export interface CollectionCatalog {
  /** The tenant's collection names, sorted (at most MAX_COLLECTIONS). */
  list(tenant: string): Promise<string[]>;
  /** Whether the tenant has a document in the collection. */
  has(tenant: string, collection: string): Promise<boolean>;
}

/** More collections than a model picker can show; the rest are still queryable by name. */
export const MAX_COLLECTIONS = 1000;

export function createCollectionCatalog(tenantData: TenantDataFor): CollectionCatalog {
  return {
    list: (tenant) => tenantData(tenant).collections({ limit: MAX_COLLECTIONS }),
    async has(tenant, collection) {
      return (await tenantData(tenant).collections({ only: collection, limit: 1 })).length > 0;
    },
  };
}
