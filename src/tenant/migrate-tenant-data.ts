import * as tenantRows from "./tenant-rows";

/**
 * Copies one tenant's rows from D1's shared tables (deployments from before issue 23) into its
 * Durable Object. The object runs it itself when it starts (TenantData's constructor), so a
 * deployment needs no step of its own and no tenant is ever seen empty; `edge-rag migrate
 * tenant-data` runs the same copy ahead of traffic, tenant by tenant.
 *
 * Promise: idempotent and resumable, for a tenant of any size. The copy goes a page at a time, each
 * page written with the place it reached in one transaction of the object, and stops at `deadline`
 * (`copying`): the next call, or the object's next start, goes on from there. Once every row is in,
 * D1 is read once more and must give the same checksum and counts (else `changed`: D1 was written
 * meanwhile, which only a worker from before the switch does; the next call copies again from the
 * beginning); then the copy's checksum is recorded (`copied`). A rerun reads D1 again and skips a
 * tenant whose checksum is the one recorded (`unchanged`), copies again one whose D1 rows changed
 * while its object was left alone, and never overwrites an object written since it was created or
 * copied (`in_use`). D1 is only read.
 * Failure modes: D1's and the object's errors reject; the place reached stays recorded.
 * Latency: two reads of the tenant's rows in D1 and one write of them to the object, in pages; a
 * call with a deadline returns at the first page boundary after it.
 */
export interface TenantDataMigration {
  tenant: string;
  status: "copied" | "unchanged" | "changed" | "in_use" | "copying";
  /** D1's rows: checksum and counts (for `copying`, of the rows read so far; for `in_use`, counts only). */
  source: tenantRows.RowDigest;
  /** The object's: what the copy wrote (checksum) and holds (counts); null for `unchanged` and `copying`. */
  target: tenantRows.RowDigest | null;
}

/** The import mark of a copy under way: a copy that stopped before its checksum is resumed or redone, not taken for the tenant's own rows. */
export const COPYING = "copying";
/**
 * What an object throws, followed by its result as JSON, when a copy leaves it half copied
 * (`copying`) or unverified (`changed`): the object resets, its calls answer 503 until a start
 * finishes the copy, and no call sees its rows meanwhile.
 */
export const COPY_UNFINISHED = "copy from D1 unfinished:";
/** The import mark of a deleted tenant's object: nothing is copied into it again. */
export const DELETED = "deleted";

/**
 * Where a copy (or a rerun's check) stands: the pass over D1's tables it is in, the key its last
 * page ended at, and its running checksum of what it has read.
 */
export interface CopyProgress {
  /** copy: D1 → object; check: D1 read again after the copy; recheck: a rerun's read of D1 after a completed copy. */
  pass: "copy" | "check" | "recheck";
  table: number;
  after: tenantRows.PageKey;
  digest: tenantRows.RowDigestState;
  /** The copy pass's result, which the check must find again. */
  copied: tenantRows.RowDigest | null;
}

/** What the copy writes to: the tenant's object, in place (its constructor) or through its stub (the tests). */
export interface ImportTarget {
  importMark(): string | null | Promise<string | null>;
  copyProgress(): CopyProgress | null | Promise<CopyProgress | null>;
  /** Starts a copy: empties the object, marks it COPYING and records `progress`. */
  beginCopy(progress: CopyProgress): void | Promise<void>;
  /** Rows of one page and the place the copy reached after them, in one transaction. */
  importRows(table: tenantRows.TenantTable, rows: tenantRows.TenantRow[], progress: CopyProgress): void | Promise<void>;
  /** Records the place a check reached (null: no pass under way; the mark stays). */
  recordProgress(progress: CopyProgress | null): void | Promise<void>;
  importState(state: tenantRows.TenantStateRow): void | Promise<void>;
  /** Records a completed copy: its checksum becomes the mark, and no pass is under way. */
  completeCopy(copied: tenantRows.RowDigest): void | Promise<void>;
  /** Whether anything wrote the object since its last completed copy (true when none completed). */
  writtenSinceCopy(): boolean | Promise<boolean>;
  /** The object's rows per table (one COUNT each: cheap). */
  tableCounts(): TableCounts | Promise<TableCounts>;
}

type TableCounts = Record<tenantRows.TenantTable, number>;

const isChecksum = (mark: string | null): mark is string => mark !== null && /^[0-9a-f]{16}$/.test(mark);
const pass = (kind: CopyProgress["pass"], copied: tenantRows.RowDigest | null = null): CopyProgress => ({
  pass: kind,
  table: 0,
  after: null,
  digest: tenantRows.createRowDigest().state(),
  copied,
});

export async function migrateTenantData(
  db: D1Database,
  target: ImportTarget,
  tenant: string,
  deadline = Number.POSITIVE_INFINITY,
): Promise<TenantDataMigration> {
  let progress = await target.copyProgress();
  if (progress === null) {
    const mark = await target.importMark();
    if (isChecksum(mark)) {
      progress = pass("recheck");
      await target.recordProgress(progress);
    } else {
      const current = await target.tableCounts();
      const empty = Object.values(current).every((count) => count === 0);
      // Rows that are neither a copy under way nor a copy's are the tenant's own.
      if (!empty && mark !== COPYING) return inUse(db, tenant, current);
      progress = pass("copy");
      await target.beginCopy(progress);
    }
  }

  for (;;) {
    const table = tenantRows.TENANT_TABLE_NAMES[progress.table];
    if (table === undefined) {
      // A pass is done: D1's state row ends its checksum.
      const state = await d1State(db, tenant);
      const digest = tenantRows.createRowDigest(progress.digest);
      digest.addState(state);
      const read = digest.result();
      if (progress.pass === "copy") {
        await target.importState(state);
        progress = pass("check", read);
        await target.recordProgress(progress);
        continue;
      }
      if (progress.pass === "check") {
        const copied = progress.copied!;
        const held = await target.tableCounts();
        if (read.digest !== copied.digest || !sameCounts(held, copied.counts)) {
          // Nothing recorded: the mark stays COPYING, so the next call copies again from the beginning.
          await target.recordProgress(null);
          return { tenant, status: "changed", source: read, target: { digest: copied.digest, counts: held } };
        }
        await target.completeCopy(copied);
        return { tenant, status: "copied", source: read, target: { digest: copied.digest, counts: held } };
      }
      // recheck
      const imported = await target.importMark();
      if (read.digest === imported) {
        await target.recordProgress(null);
        return { tenant, status: "unchanged", source: read, target: null };
      }
      // D1 changed since the copy: copy again, unless the object was written since (then it is the tenant's).
      if (await target.writtenSinceCopy()) {
        await target.recordProgress(null);
        return inUse(db, tenant, await target.tableCounts());
      }
      progress = pass("copy");
      await target.beginCopy(progress);
      continue;
    }

    const { page } = tenantRows.TENANT_TABLES[table];
    const statement = db.prepare(tenantRows.pageSql(table, { after: progress.after !== null }));
    const rows = (await statement.bind(page, tenant, ...(progress.after ?? [])).raw()) as tenantRows.TenantRow[];
    const digest = tenantRows.createRowDigest(progress.digest);
    for (const row of rows) digest.add(table, row);
    const next: CopyProgress =
      rows.length < page
        ? { ...progress, table: progress.table + 1, after: null, digest: digest.state() }
        : { ...progress, after: tenantRows.keyOf(table, rows.at(-1)!), digest: digest.state() };
    if (progress.pass === "copy") await target.importRows(table, rows, next);
    else await target.recordProgress(next);
    progress = next;
    // After a page, not before: every call moves the copy on.
    if (Date.now() >= deadline)
      return { tenant, status: "copying", source: tenantRows.createRowDigest(progress.digest).result(), target: null };
  }
}

const sameCounts = (a: Record<string, number>, b: Record<string, number>) =>
  tenantRows.TENANT_TABLE_NAMES.every((table) => (a[table] ?? 0) === (b[table] ?? 0));

/** The object holds rows of its own: nothing is copied, and D1's are reported by count. */
async function inUse(db: D1Database, tenant: string, current: TableCounts): Promise<TenantDataMigration> {
  const counts = Object.fromEntries(
    await Promise.all(
      tenantRows.TENANT_TABLE_NAMES.map(async (table) => {
        const row = await db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant = ?1`).bind(tenant).first<{ n: number }>();
        return [table, row?.n ?? 0] as const;
      }),
    ),
  ) as Record<tenantRows.TenantTable, number>;
  return { tenant, status: "in_use", source: { digest: "", counts }, target: { digest: "", counts: current } };
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

/** The D1 tables of the layout before issue 23 that hold a tenant's rows (its keyword index's own tables go with the later migration that drops them all). */
const D1_TENANT_TABLES = [...tenantRows.TENANT_TABLE_NAMES, "keyword_indexes", "quota_guard"];
const DELETE_PAGE = 5_000;

/**
 * Deletes a tenant's rows from D1's shared tables (tenant deletion), a page at a time so that no
 * statement runs long; a table a later migration dropped is skipped. Without it the command would
 * find a deleted tenant's old rows and copy them back.
 */
export async function deleteD1Rows(db: D1Database, tenant: string): Promise<void> {
  for (const table of D1_TENANT_TABLES) {
    try {
      for (;;) {
        const result = await db
          .prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE tenant = ?1 LIMIT ${DELETE_PAGE})`)
          .bind(tenant)
          .run();
        if (result.meta.changes < DELETE_PAGE) break;
      }
    } catch (error) {
      if (!isMissingTable(error)) throw error;
    }
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

/** A D1 error saying a table is missing (the shared tables once a later migration dropped them). */
function isMissingTable(error: unknown): boolean {
  return error instanceof Error && /no such table/i.test(`${error.message} ${String((error as { cause?: unknown }).cause ?? "")}`);
}
