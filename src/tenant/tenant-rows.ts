/**
 * A tenant's rows as both stores hold them — D1's shared tables (with a `tenant` column) and the
 * tenant's own Durable Object (without) — declared once, so that `edge-rag migrate tenant-data`
 * copies and checks them by the same columns in the same order on both sides.
 */

export const TENANT_TABLES = {
  documents: {
    key: ["id"],
    columns: [
      "id",
      "collection",
      "text",
      "metadata",
      "accepted_metadata",
      "content_hash",
      "indexed_hash",
      "revision",
      "status",
      "chunk_count",
      "job_id",
      "error",
      "created_at",
      "updated_at",
    ],
    /** Rows per page: a document's text may be ~2 MB, and an RPC message carries at most 32 MiB. */
    page: 10,
  },
  chunks: {
    key: ["id"],
    columns: ["seq", "id", "document_id", "collection", "chunk_index", "text", "start_offset", "end_offset", "title"],
    page: 500,
  },
  jobs: { key: ["id"], columns: ["id", "status", "documents", "created_at", "updated_at", "finished_at", "enqueued_at"], page: 500 },
  job_documents: {
    key: ["job_id", "document_id"],
    columns: ["job_id", "document_id", "status", "content_hash", "chunks", "attempts", "error", "updated_at"],
    page: 500,
  },
  vector_deletions: { key: ["id"], columns: ["id", "created_at"], page: 500 },
} as const satisfies Record<string, { key: readonly string[]; columns: readonly string[]; page: number }>;

export type TenantTable = keyof typeof TENANT_TABLES;
export const TENANT_TABLE_NAMES = Object.keys(TENANT_TABLES) as TenantTable[];

/** A row as an array of its table's columns, in order. */
export type TenantRow = Array<string | number | null>;

/** Where a page starts: the previous page's last key (null: from the beginning). */
export type PageKey = Array<string | number> | null;

/** The key columns' values of a row of `table`. */
export function keyOf(table: TenantTable, row: TenantRow): Array<string | number> {
  const { key, columns } = TENANT_TABLES[table];
  return key.map((column) => row[(columns as readonly string[]).indexOf(column)] as string | number);
}

/**
 * Columns D1 may hold short of their final value: chunks written before D1's migration 0008 have
 * an empty title until their tenant's D1 keyword index gave them their document's (on its first
 * keyword query or write after that deploy). The copy takes the value that backfill would have.
 */
const D1_COLUMN_VALUES: Record<string, string> = {
  "chunks.title": `CASE WHEN title <> '' THEN title ELSE coalesce((SELECT json_extract(d.metadata, '$.title') FROM documents d
     WHERE d.tenant = chunks.tenant AND d.id = chunks.document_id AND json_type(d.metadata, '$.title') = 'text'), '') END`,
};

/**
 * SQL for one page of `table`'s rows of a tenant in D1, in key order: ?1 the limit, ?2 the tenant,
 * then (with `after`) the previous page's last key.
 */
export function pageSql(table: TenantTable, options: { after: boolean }): string {
  const { key, columns } = TENANT_TABLES[table];
  const after = options.after ? ` AND (${key.join(", ")}) > (${key.map((_, i) => `?${i + 3}`).join(", ")})` : "";
  const select = columns.map((column) => D1_COLUMN_VALUES[`${table}.${column}`] ?? column);
  return `SELECT ${select.join(", ")} FROM ${table} WHERE tenant = ?2${after} ORDER BY ${key.join(", ")} LIMIT ?1`;
}

/**
 * A running checksum of rows (two FNV-1a 32-bit hashes over their JSON, with different seeds: 64
 * bits, to detect a lost or changed row in a copy, not to resist an adversary) and the count of
 * each table. Both sides feed it the same rows in the same order.
 */
export function createRowDigest(resume?: RowDigestState) {
  let a = resume?.a ?? 0x811c9dc5;
  let b = resume?.b ?? 0x01000193 ^ 0x5bd1e995;
  const counts: Record<string, number> = { ...resume?.counts };
  const feed = (label: string, row: TenantRow) => {
    const text = `${label}\u0000${JSON.stringify(row)}\n`;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      a = Math.imul(a ^ code, 0x01000193);
      b = Math.imul(b ^ code, 0x01000193) ^ (b >>> 13);
    }
  };
  return {
    add(table: TenantTable, row: TenantRow) {
      counts[table] = (counts[table] ?? 0) + 1;
      feed(table, row);
    },
    /** The tenant's index version, cache epoch and embedding model, once, after the rows. */
    addState(state: TenantStateRow) {
      feed("tenant", [state.index_version, state.cache_epoch, state.embedding_model]);
    },
    /** Where it stands, to go on from in a later call (createRowDigest(state)). */
    state(): RowDigestState {
      return { a, b, counts: { ...counts } };
    },
    result(): { digest: string; counts: Record<TenantTable, number> } {
      const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
      const all = Object.fromEntries(TENANT_TABLE_NAMES.map((table) => [table, counts[table] ?? 0])) as Record<TenantTable, number>;
      return { digest: `${hex(a)}${hex(b)}`, counts: all };
    },
  };
}

export type RowDigest = ReturnType<ReturnType<typeof createRowDigest>["result"]>;
export interface RowDigestState {
  a: number;
  b: number;
  counts: Record<string, number>;
}

/** What the tenants row says besides limits: copied with the data. */
export interface TenantStateRow {
  index_version: number;
  cache_epoch: number;
  embedding_model: string | null;
}
