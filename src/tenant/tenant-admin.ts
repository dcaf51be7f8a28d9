import type { FileStore } from "../ingest/file-store";
import type { TenantStore } from "../store/tenant-store";
import type { VectorIndex } from "../vector/vector-index";
import { COPY_UNFINISHED, DELETED, deleteD1Rows, type TenantDataMigration, tenantsWithData } from "./migrate-tenant-data";
import type { TenantDataFor } from "./tenant-data-port";

/**
 * The operators' use cases over whole tenants, built once in `createServices`: deleting a tenant,
 * and copying a tenant's rows from D1's shared tables (today's deployments) into its object.
 *
 * Promise of `delete`: the tenant's credentials go first (its API keys, users and tenants row, in
 * one D1 batch: nothing can sign in as it any more, and keys still cached in other isolates stop
 * within API_KEY_CACHE_TTL_SECONDS), then its vectors (every chunk id and recorded vector id of its
 * object, deleted from the index), then its object's storage (`destroy`: its index version and
 * cache epoch move on, so no cached answer of the tenant matches again, and a last good answer is
 * only served while every chunk it cites exists: none does), then its originals in the files
 * bucket (its prefix, FileStore.deleteTenant). Idempotent: run again, it finds
 * nothing, or what a cached key wrote in the seconds before it stopped. Cached entries are keyed
 * by hashes, so they are not enumerated: unreachable at once, they expire with their TTL.
 * Failure modes: D1's, the vector index's, the object's and the bucket's (StoreUnavailable,
 * VectorIndexError, FileStoreUnavailable):
 * what ran stays done, and a rerun finishes it. Latency: one D1 batch, one object call per 1,000
 * vector ids plus a delete per 100, one object call.
 */
export interface TenantAdminService {
  delete(tenant: string): Promise<TenantDeletion>;
  /** Copies one tenant's rows from D1 into its object (idempotent; see migrate-tenant-data.ts). */
  migrate(tenant: string): Promise<TenantDataMigration>;
  /** Tenants with rows in D1's shared tables, in name order after `after`, at most `limit`. */
  tenantsWithD1Data(after: string, limit: number): Promise<string[]>;
}

export interface TenantDeletion {
  tenant: string;
  api_keys: number;
  users: number;
  vectors: number;
  documents: number;
  /** Originals deleted from the files bucket. */
  files: number;
}

export interface TenantAdminDeps {
  db: D1Database;
  tenantData: TenantDataFor;
  vectors: VectorIndex;
  /** Forgets the tenant's state this isolate caches. */
  tenants: Pick<TenantStore, "forget">;
  /** The originals of its documents made from files. */
  files: Pick<FileStore, "deleteTenant">;
}

/** Vectorize deletes at most 100 ids a call (vector-writes.ts). */
const DELETE_BATCH = 100;
const ID_PAGE = 1_000;

export function createTenantAdminService(deps: TenantAdminDeps): TenantAdminService {
  return {
    async delete(tenant) {
      // Its shards before its tenants row goes, which says how many there are.
      const plane = deps.tenantData(tenant);
      const shards = await plane.shards();
      const [keys, users] = await deps.db.batch<never>([
        deps.db.prepare("DELETE FROM api_keys WHERE tenant = ?1").bind(tenant),
        deps.db.prepare("DELETE FROM users WHERE tenant = ?1").bind(tenant),
        deps.db.prepare("DELETE FROM tenants WHERE tenant = ?1").bind(tenant),
        // Its bucket sync source (the object's storage, below, holds the rest): the cron forgets it.
        deps.db.prepare("DELETE FROM sync_sources WHERE tenant = ?1").bind(tenant),
      ]);
      const documents = (await Promise.all(shards.map((store) => store.stats()))).reduce((sum, stats) => sum + stats.documents, 0);
      let vectors = 0;
      for (const store of shards) {
        for (let after = ""; ; ) {
          const ids = await store.vectorIds(after, ID_PAGE);
          for (let i = 0; i < ids.length; i += DELETE_BATCH) await deps.vectors.deleteByIds(ids.slice(i, i + DELETE_BATCH));
          vectors += ids.length;
          if (ids.length < ID_PAGE) break;
          after = ids.at(-1)!;
        }
        await store.destroy();
        // Never adopted from D1 again: a deployment's old rows of it, if any, stay deleted.
        await store.setImportMark(DELETED);
      }
      // Its rows a deployment from before issue 23 left in D1 (copied into the object by its start above, and deleted with it).
      await deleteD1Rows(deps.db, tenant);
      // Last, its originals (one prefix): with the rows gone, no document points to them.
      const files = await deps.files.deleteTenant(tenant);
      deps.tenants.forget(tenant);
      return { tenant, api_keys: keys!.meta.changes, users: users!.meta.changes, vectors, documents, files };
    },

    // D1's rows are a one-shard tenant's: shard 0's object takes them.
    migrate: async (tenant) => {
      try {
        return await deps.tenantData(tenant).shard(0).copyFromD1(tenant);
      } catch (error) {
        // The copy stopped at its deadline, or found D1 written meanwhile, and reset the object (its
        // calls answer 503 until a start finishes the copy): the next call goes on, or starts again.
        const message = [error, error instanceof Error ? error.cause : undefined]
          .map((cause) => (cause instanceof Error ? cause.message : ""))
          .find((text) => text.includes(COPY_UNFINISHED));
        if (message === undefined) throw error;
        return JSON.parse(message.slice(message.indexOf(COPY_UNFINISHED) + COPY_UNFINISHED.length)) as TenantDataMigration;
      }
    },

    tenantsWithD1Data: (after, limit) => tenantsWithData(deps.db, after, limit),
  };
}
