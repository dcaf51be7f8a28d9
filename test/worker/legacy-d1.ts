import { env } from "cloudflare:test";
import { TENANT_TABLE_NAMES, TENANT_TABLES } from "../../src/tenant/tenant-rows";
import { tenantObject, tenantSql } from "./helpers";

/**
 * Deployments from before issue 23 hold every tenant's rows in D1's shared tables. The worker no
 * longer writes them, so tests make such rows the way they came to be: written by the ingest path
 * (now into a tenant's object), then copied row by row and column by column into D1's tables.
 */

/** Tenant `from`'s object rows into D1's shared tables under tenant `to` (chunk seqs moved past any other test's), with its state in `tenants`. */
export async function copyRowsToD1(from: string, to: string): Promise<void> {
  const seqBase = Math.floor(Math.random() * 1e9) * 1000;
  for (const table of TENANT_TABLE_NAMES) {
    const columns = TENANT_TABLES[table].columns as readonly string[];
    for (const row of await tenantSql(from, `SELECT ${columns.join(", ")} FROM ${table}`)) {
      const values = columns.map((column) => (column === "seq" ? (row[column] as number) + seqBase : row[column]));
      await env.DB.prepare(
        `INSERT INTO ${table} (tenant, ${columns.join(", ")}) VALUES (?1, ${columns.map((_, i) => `?${i + 2}`).join(", ")})`,
      )
        .bind(to, ...values)
        .run();
    }
  }
  const state = await tenantObject(from).stats();
  await env.DB.prepare("INSERT INTO tenants (tenant, index_version, cache_epoch, embedding_model, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")
    .bind(to, state.index_version, state.cache_epoch, state.embedding_model, Date.now())
    .run();
}

/** A document row written straight into D1's shared table, as the worker before issue 23 did. */
export async function writeD1Document(tenant: string, id: string, text: string): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO documents (tenant, id, collection, text, metadata, accepted_metadata, content_hash, revision, status, created_at, updated_at)
     VALUES (?1, ?2, 'default', ?3, '{}', '{}', ?2, ?2, 'queued', 1, 1)`,
  )
    .bind(tenant, id, text)
    .run();
}

/**
 * D1 as a copy sees it while a worker from before the switch writes: the document `id` is written
 * into D1 just before the `nth` read of the tenant's chunks (each pass reads the documents first;
 * a rerun's check of D1 is a pass of its own, before its copy).
 */
export function d1WritingDuringCopy(db: D1Database, tenant: string, id: string, nth = 1): D1Database & { wrote: () => boolean } {
  let wrote = false;
  let chunkReads = 0;
  return new Proxy(db, {
    get(target, property) {
      if (property === "wrote") return () => wrote;
      if (property !== "prepare") return Reflect.get(target, property, target);
      return (sql: string) => {
        if (wrote || !sql.includes("FROM chunks") || ++chunkReads < nth) return target.prepare(sql);
        wrote = true;
        return {
          bind: (...values: unknown[]) => ({
            raw: async () => {
              await writeD1Document(tenant, id, "Written during the copy.");
              return target
                .prepare(sql)
                .bind(...values)
                .raw();
            },
          }),
        } as unknown as D1PreparedStatement;
      };
    },
  }) as D1Database & { wrote: () => boolean };
}
