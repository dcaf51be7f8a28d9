import { ensureKeywordIndex } from "../retrieval/keyword-index";
import type { TenantData } from "./tenant-data";
import * as tenantRows from "./tenant-rows";

/**
 * Copies one tenant's rows from D1 (today's shared tables) into its Durable Object, the core of
 * `edge-rag migrate tenant-data` (issue 23).
 *
 * Promise: idempotent and resumable. A tenant whose object already holds a copy with the checksum
 * of what D1 holds now is skipped (`unchanged`); otherwise the object is emptied and every row is
 * copied again in pages (a page sent twice is harmless), then the object's own checksum and counts
 * must equal D1's, read before the copy, or the result is `changed` (the tenant wrote meanwhile:
 * run it again). Only a `copied` or `unchanged` tenant may be switched over. D1 is only read.
 * Failure modes: D1's and the object's errors reject (nothing is recorded as copied). Latency: two
 * reads of the tenant's rows in D1 and one write of them to the object, in pages.
 */
export interface TenantDataMigration {
  tenant: string;
  status: "copied" | "unchanged" | "changed";
  source: tenantRows.RowDigest;
  target: tenantRows.RowDigest | null;
}

export async function migrateTenantData(
  db: D1Database,
  objects: DurableObjectNamespace<TenantData>,
  tenant: string,
): Promise<TenantDataMigration> {
  // The chunks' titles as the tenant's D1 keyword index has them (it backfills them once).
  await ensureKeywordIndex(db, tenant);
  const source = await d1Digest(db, tenant);
  const stub = objects.get(objects.idFromName(tenant));
  if ((await stub.importedDigest()) === source.digest) return { tenant, status: "unchanged", source, target: null };

  await stub.destroy();
  for (const table of tenantRows.TENANT_TABLE_NAMES) {
    for await (const rows of d1Pages(db, tenant, table)) await stub.importRows(table, rows);
  }
  await stub.importState(await d1State(db, tenant));
  const target = await stub.rowDigest();
  if (target.digest !== source.digest) return { tenant, status: "changed", source, target };
  await stub.importedDigest(target.digest);
  return { tenant, status: "copied", source, target };
}

/** Every tenant with data in D1's shared tables, in name order. */
export async function tenantsWithData(db: D1Database): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT tenant FROM documents UNION SELECT tenant FROM jobs UNION SELECT tenant FROM tenants ORDER BY tenant")
    .all<{ tenant: string }>();
  return results.map((row) => row.tenant);
}

async function* d1Pages(db: D1Database, tenant: string, table: tenantRows.TenantTable): AsyncGenerator<tenantRows.TenantRow[]> {
  const { page } = tenantRows.TENANT_TABLES[table];
  let after: tenantRows.PageKey = null;
  for (;;) {
    const statement = db.prepare(tenantRows.pageSql(table, { tenantColumn: true, after: after !== null }));
    const rows = (await statement.bind(page, tenant, ...(after ?? [])).raw()) as tenantRows.TenantRow[];
    if (rows.length > 0) yield rows;
    if (rows.length < page) return;
    after = tenantRows.keyOf(table, rows.at(-1)!);
  }
}

async function d1State(db: D1Database, tenant: string): Promise<tenantRows.TenantStateRow> {
  const row = await db
    .prepare("SELECT index_version, cache_epoch, embedding_model FROM tenants WHERE tenant = ?1")
    .bind(tenant)
    .first<tenantRows.TenantStateRow>();
  return { index_version: row?.index_version ?? 0, cache_epoch: row?.cache_epoch ?? 0, embedding_model: row?.embedding_model ?? null };
}

async function d1Digest(db: D1Database, tenant: string): Promise<tenantRows.RowDigest> {
  const digest = tenantRows.createRowDigest();
  for (const table of tenantRows.TENANT_TABLE_NAMES) {
    for await (const rows of d1Pages(db, tenant, table)) for (const row of rows) digest.add(table, row);
  }
  digest.addState(await d1State(db, tenant));
  return digest.result();
}
