import * as tenantRows from "./tenant-rows";

/**
 * Copies one tenant's rows from D1's shared tables (deployments from before issue 23) into its
 * Durable Object. The object runs it itself the first time it starts (TenantData's constructor),
 * so a deployment needs no step of its own and no tenant is ever seen empty; `edge-rag migrate
 * tenant-data` runs the same copy ahead of traffic, tenant by tenant.
 *
 * Promise: idempotent. A tenant whose object holds a copy with the checksum of what D1 holds now is
 * skipped (`unchanged`); an object written since it was created or copied is never overwritten
 * (`in_use`); otherwise the object is emptied and every row copied in pages, then the object's own
 * checksum and counts must equal D1's, read before the copy, or the result is `changed` (D1 was
 * written meanwhile, which only a worker from before the switch does: run it again), and nothing is
 * recorded. D1 is only read. Failure modes: D1's and the object's errors reject. Latency: two reads
 * of the tenant's rows in D1 and one write of them to the object, in pages.
 */
export interface TenantDataMigration {
  tenant: string;
  status: "copied" | "unchanged" | "changed" | "in_use";
  source: tenantRows.RowDigest;
  target: tenantRows.RowDigest | null;
}

/** The import mark of a copy under way: a copy that stopped before its checksum is redone, not taken for the tenant's own rows. */
export const COPYING = "copying";
/** The import mark of a deleted tenant's object: nothing is copied into it again. */
export const DELETED = "deleted";

/** What the copy writes to: the tenant's object, in place (its constructor) or through its stub (the command). */
export interface ImportTarget {
  importedDigest(digest?: string): string | null | Promise<string | null>;
  rowDigest(): tenantRows.RowDigest | Promise<tenantRows.RowDigest>;
  destroy(): Promise<void>;
  importRows(table: tenantRows.TenantTable, rows: tenantRows.TenantRow[]): void | Promise<void>;
  importState(state: tenantRows.TenantStateRow): void | Promise<void>;
}

export async function migrateTenantData(db: D1Database, target: ImportTarget, tenant: string): Promise<TenantDataMigration> {
  const source = await d1Digest(db, tenant);
  const imported = await target.importedDigest();
  if (imported === source.digest) return { tenant, status: "unchanged", source, target: null };
  const current = await target.rowDigest();
  const empty = Object.values(current.counts).every((count) => count === 0);
  // Rows that are neither an earlier copy, untouched since, nor an interrupted one are the tenant's own.
  if (!empty && imported !== COPYING && current.digest !== imported) return { tenant, status: "in_use", source, target: current };

  await target.destroy();
  await target.importedDigest(COPYING);
  for (const table of tenantRows.TENANT_TABLE_NAMES) {
    for await (const rows of d1Pages(db, tenant, table)) await target.importRows(table, rows);
  }
  await target.importState(await d1State(db, tenant));
  const copied = await target.rowDigest();
  if (copied.digest !== source.digest) return { tenant, status: "changed", source, target: copied };
  await target.importedDigest(copied.digest);
  return { tenant, status: "copied", source, target: copied };
}

/** Whether D1's shared tables hold any row of the tenant's data; false once a later migration dropped them. */
export async function hasD1Data(db: D1Database, tenant: string): Promise<boolean> {
  try {
    const row = await db
      .prepare(
        `SELECT EXISTS (SELECT 1 FROM documents WHERE tenant = ?1) OR EXISTS (SELECT 1 FROM jobs WHERE tenant = ?1)
                OR EXISTS (SELECT 1 FROM vector_deletions WHERE tenant = ?1) AS found`,
      )
      .bind(tenant)
      .first<{ found: number }>();
    return row?.found === 1;
  } catch (error) {
    if (isMissingTable(error)) return false;
    throw error;
  }
}

/** Every tenant with data in D1's shared tables, in name order after `after`, at most `limit`. */
export async function tenantsWithData(db: D1Database, after = "", limit = 1_000): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT tenant FROM (SELECT tenant FROM documents UNION SELECT tenant FROM jobs UNION SELECT tenant FROM vector_deletions)
       WHERE tenant > ?1 ORDER BY tenant LIMIT ?2`,
    )
    .bind(after, limit)
    .all<{ tenant: string }>();
  return results.map((row) => row.tenant);
}

/** The tenant's index version, cache epoch and embedding model as D1's `tenants` row has them. */
export async function d1State(db: D1Database, tenant: string): Promise<tenantRows.TenantStateRow> {
  const row = await db
    .prepare("SELECT index_version, cache_epoch, embedding_model FROM tenants WHERE tenant = ?1")
    .bind(tenant)
    .first<tenantRows.TenantStateRow>();
  return { index_version: row?.index_version ?? 0, cache_epoch: row?.cache_epoch ?? 0, embedding_model: row?.embedding_model ?? null };
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

async function d1Digest(db: D1Database, tenant: string): Promise<tenantRows.RowDigest> {
  const digest = tenantRows.createRowDigest();
  for (const table of tenantRows.TENANT_TABLE_NAMES) {
    for await (const rows of d1Pages(db, tenant, table)) for (const row of rows) digest.add(table, row);
  }
  digest.addState(await d1State(db, tenant));
  return digest.result();
}

/** A D1 error saying a table is missing (the shared tables once a later migration dropped them). */
function isMissingTable(error: unknown): boolean {
  return error instanceof Error && /no such table/i.test(`${error.message} ${String((error as { cause?: unknown }).cause ?? "")}`);
}
