/**
 * Per-tenant keyword (BM25) indexes: one FTS5 table per tenant, so each tenant's BM25 statistics
 * (document frequencies, number of chunks, average length) come from its own chunks only. With one
 * table for all tenants, another tenant's documents changed a tenant's ranking and let it probe
 * the other's vocabulary through the scores.
 *
 * Design (see README "Per-tenant keyword ranking"): the table `kw2_<96 bits of SHA-256(tenant)>`
 * has two columns, the chunk's text and its document's title (`chunks.title`, from
 * `metadata.title`), which keyword search weighs apart. It is
 * contentless (the text lives once, in `chunks`; rowid = chunks.seq) and is kept in sync with the
 * tenant's chunks by two triggers on `chunks` whose WHEN clause names the tenant, so every writer
 * of `chunks` (indexer commit, document delete, tests) keeps it exact without knowing about it.
 * The table, its triggers, the backfill of the tenant's existing chunks and the row in
 * `keyword_indexes` are created in one D1 batch (one transaction), so the index is never partial:
 * on a tenant's first indexing commit (inside that commit's batch), or on its first keyword query
 * for a tenant whose chunks predate migration 0007 (the migration path of existing data). The same
 * batch drops the index of an earlier version (`kw_<hash>`, text only, before migration 0008) and
 * gives the tenant's chunks their titles, so a tenant's index is upgraded on its first write or
 * keyword query after a deploy.
 *
 * Names are never built from tenant text: the table name is a hash (hex), and the tenant appears
 * in the triggers only as an SQL string literal, quote-doubled (tenant ids are also restricted to
 * [A-Za-z0-9_.-] by TENANT_PATTERN).
 */

/** How the index splits and stems text (also what `npm run eval:keyword` indexes with). */
export const FTS_TOKENIZER = "porter unicode61 remove_diacritics 2";

/** The current index version's name prefix, and the earlier versions' (dropped when met). */
const PREFIX = "kw2_";
const RETIRED_PREFIXES = ["kw_"];
/** The names the tenant's index had in earlier versions, from its current name. */
const retiredNames = (name: string) => RETIRED_PREFIXES.map((prefix) => name.replace(PREFIX, prefix));

/** The FTS5 table name of a tenant's keyword index: safe as an identifier whatever the tenant. */
export async function keywordIndexName(tenant: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tenant));
  const hex = Array.from(new Uint8Array(digest).slice(0, 12), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${PREFIX}${hex}`;
}

const sqlLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * The statements that create the tenant's keyword index if it does not exist yet and fill it with
 * the tenant's current chunks: idempotent (IF NOT EXISTS, and the backfill runs only while
 * `keyword_indexes` has no row for the tenant). Run them in one D1 batch, before any statement
 * of the same batch that writes the tenant's chunks.
 */
export function ensureKeywordIndexStatements(db: D1Database, tenant: string, name: string): D1PreparedStatement[] {
  const who = sqlLiteral(tenant);
  return [
    ...retiredNames(name).flatMap((retired) => dropStatements(db, retired)),
    db.prepare(
      `CREATE VIRTUAL TABLE IF NOT EXISTS ${name} USING fts5 (text, title, content = '', tokenize = ${sqlLiteral(FTS_TOKENIZER)})`,
    ),
    db.prepare(
      `CREATE TRIGGER IF NOT EXISTS ${name}_ai AFTER INSERT ON chunks WHEN new.tenant = ${who} BEGIN ` +
        `INSERT INTO ${name} (rowid, text, title) VALUES (new.seq, new.text, new.title); END`,
    ),
    db.prepare(
      `CREATE TRIGGER IF NOT EXISTS ${name}_ad AFTER DELETE ON chunks WHEN old.tenant = ${who} BEGIN ` +
        `INSERT INTO ${name} (${name}, rowid, text, title) VALUES ('delete', old.seq, old.text, old.title); END`,
    ),
    // The backfill runs while the tenant has no row for this version (none, or an earlier version's):
    // chunks written before migration 0008 get the title of the metadata they were indexed with first.
    db
      .prepare(
        `UPDATE chunks SET title = coalesce(
           (SELECT json_extract(d.metadata, '$.title') FROM documents d
            WHERE d.tenant = chunks.tenant AND d.id = chunks.document_id AND json_type(d.metadata, '$.title') = 'text'), '')
         WHERE tenant = ?1 AND NOT EXISTS (SELECT 1 FROM keyword_indexes WHERE tenant = ?1 AND name = ?2)`,
      )
      .bind(tenant, name),
    db
      .prepare(
        `INSERT INTO ${name} (rowid, text, title) SELECT seq, text, title FROM chunks
         WHERE tenant = ?1 AND NOT EXISTS (SELECT 1 FROM keyword_indexes WHERE tenant = ?1 AND name = ?2)`,
      )
      .bind(tenant, name),
    db
      .prepare(
        `INSERT INTO keyword_indexes (tenant, name, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant) DO UPDATE SET name = excluded.name, created_at = excluded.created_at WHERE name <> excluded.name`,
      )
      .bind(tenant, name, Date.now()),
  ];
}

/** An index's triggers and table, if they exist. */
const dropStatements = (db: D1Database, name: string) => [
  db.prepare(`DROP TRIGGER IF EXISTS ${name}_ai`),
  db.prepare(`DROP TRIGGER IF EXISTS ${name}_ad`),
  db.prepare(`DROP TABLE IF EXISTS ${name}`),
];

/** Tenants whose keyword index this isolate has seen exist (it is never dropped while they have chunks). */
const known = new Set<string>();

/**
 * The statements to put at the head of a batch that writes the tenant's chunks: none once this
 * isolate knows the index exists. Call `markKeywordIndexBuilt` after the batch succeeded.
 */
export async function keywordIndexStatementsForWrite(db: D1Database, tenant: string): Promise<D1PreparedStatement[]> {
  if (known.has(tenant)) return [];
  return ensureKeywordIndexStatements(db, tenant, await keywordIndexName(tenant));
}

export function markKeywordIndexBuilt(tenant: string): void {
  known.add(tenant);
}

/** Creates and backfills the tenant's keyword index if it does not exist (one D1 batch; idempotent). */
export async function ensureKeywordIndex(db: D1Database, tenant: string): Promise<string> {
  const name = await keywordIndexName(tenant);
  await db.batch(ensureKeywordIndexStatements(db, tenant, name));
  known.add(tenant);
  return name;
}

/**
 * Drops the tenant's keyword index (table, triggers, `keyword_indexes` row) when the tenant has
 * no document left, so a tenant that deleted everything leaves no table behind. There is no
 * tenant deletion in this service; a tenant's last document going is when its index is unused.
 *
 * Safe against a concurrent ingest: the table, its triggers and its row go in one batch, exactly
 * as they are created in one, so they exist together or not at all; chunks committed while they
 * do not exist are simply not indexed yet, and the tenant's next keyword query rebuilds the index
 * from `chunks` (the row is gone, so the backfill runs). True when something was dropped.
 * Latency: one D1 query, plus one batch when the tenant has no documents.
 */
export async function dropKeywordIndexIfUnused(db: D1Database, tenant: string): Promise<boolean> {
  const used = await db
    .prepare(
      "SELECT EXISTS (SELECT 1 FROM documents WHERE tenant = ?1) AS used, EXISTS (SELECT 1 FROM keyword_indexes WHERE tenant = ?1) AS built",
    )
    .bind(tenant)
    .first<{ used: number; built: number }>();
  if (!used || used.used || !used.built) return false;
  const name = await keywordIndexName(tenant);
  await db.batch([
    ...[name, ...retiredNames(name)].flatMap((each) => dropStatements(db, each)),
    db.prepare("DELETE FROM keyword_indexes WHERE tenant = ?1").bind(tenant),
  ]);
  known.delete(tenant);
  return true;
}

/** True when a D1 error says a table is missing (the tenant's index has not been built yet). */
export function isMissingTable(error: unknown): boolean {
  return error instanceof Error && /no such table/i.test(`${error.message} ${String((error as { cause?: unknown }).cause ?? "")}`);
}
