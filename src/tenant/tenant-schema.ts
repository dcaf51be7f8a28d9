/**
 * The schema of one tenant's Durable Object (tenant-data.ts), as versioned migrations that the
 * object applies to its own SQLite storage when it starts (inside `blockConcurrencyWhile`, each
 * migration in one `transactionSync`, so a crash leaves the previous version whole). Append a
 * migration to change the schema; never edit one that has shipped.
 *
 * No table has a `tenant` column: the object is the tenant. The usage counters in `tenant` (one
 * row) and in `collections` are kept by triggers on the rows they count, so they move in the same
 * transaction as those rows, and a quota check reads one row instead of scanning the tenant.
 * (No OR IGNORE in a trigger: the ON CONFLICT of the statement that fires it would override it.)
 */
/** The keyword index's tokenizer: Porter stemming over Unicode words, diacritics folded. */
export const FTS_TOKENIZER = "porter unicode61 remove_diacritics 2";

/**
 * How much a term in the document's title counts against one in the chunk's text (FTS5 column
 * weights; a title term also counts toward the chunk's length). 1 was the best of 0.5, 1, 2 and 3
 * on SciFact's tuning slice (`npm run eval:keyword`, README "Evaluation").
 */
export const TITLE_WEIGHT = 1;

export const TENANT_SCHEMA: readonly string[] = [
  // 1: documents, chunks, the keyword index, jobs, vector deletions, counters.
  `CREATE TABLE tenant (
     id              INTEGER PRIMARY KEY CHECK (id = 1),
     index_version   INTEGER NOT NULL DEFAULT 0,
     cache_epoch     INTEGER NOT NULL DEFAULT 0,
     embedding_model TEXT,
     documents       INTEGER NOT NULL DEFAULT 0,
     bytes           INTEGER NOT NULL DEFAULT 0,
     chunks          INTEGER NOT NULL DEFAULT 0
   );
   INSERT INTO tenant (id) VALUES (1);

   CREATE TABLE documents (
     id                TEXT PRIMARY KEY,
     collection        TEXT NOT NULL,
     text              TEXT NOT NULL,
     metadata          TEXT NOT NULL DEFAULT '{}',
     accepted_metadata TEXT NOT NULL DEFAULT '{}',
     content_hash      TEXT NOT NULL,
     indexed_hash      TEXT,
     revision          TEXT NOT NULL,
     status            TEXT NOT NULL,
     chunk_count       INTEGER NOT NULL DEFAULT 0,
     job_id            TEXT,
     error             TEXT,
     created_at        INTEGER NOT NULL,
     updated_at        INTEGER NOT NULL,
     bytes             INTEGER GENERATED ALWAYS AS (length(CAST(text AS BLOB)) + length(CAST(accepted_metadata AS BLOB))) STORED
   );
   CREATE INDEX documents_by_collection ON documents (collection);

   CREATE TABLE collections (name TEXT PRIMARY KEY, documents INTEGER NOT NULL);

   CREATE TRIGGER documents_ai AFTER INSERT ON documents BEGIN
     UPDATE tenant SET documents = documents + 1, bytes = bytes + new.bytes;
     INSERT INTO collections (name, documents) SELECT new.collection, 0 WHERE NOT EXISTS (SELECT 1 FROM collections WHERE name = new.collection);
     UPDATE collections SET documents = documents + 1 WHERE name = new.collection;
   END;
   CREATE TRIGGER documents_ad AFTER DELETE ON documents BEGIN
     UPDATE tenant SET documents = documents - 1, bytes = bytes - old.bytes;
     UPDATE collections SET documents = documents - 1 WHERE name = old.collection;
     DELETE FROM collections WHERE name = old.collection AND documents = 0;
   END;
   CREATE TRIGGER documents_au AFTER UPDATE OF text, accepted_metadata, collection ON documents BEGIN
     UPDATE tenant SET bytes = bytes - old.bytes + new.bytes;
     INSERT INTO collections (name, documents) SELECT new.collection, 0 WHERE NOT EXISTS (SELECT 1 FROM collections WHERE name = new.collection);
     UPDATE collections SET documents = documents + 1 WHERE name = new.collection;
     UPDATE collections SET documents = documents - 1 WHERE name = old.collection;
     DELETE FROM collections WHERE name = old.collection AND documents = 0;
   END;

   CREATE TABLE chunks (
     seq          INTEGER PRIMARY KEY AUTOINCREMENT,
     id           TEXT NOT NULL UNIQUE,
     document_id  TEXT NOT NULL,
     collection   TEXT NOT NULL,
     chunk_index  INTEGER NOT NULL,
     text         TEXT NOT NULL,
     start_offset INTEGER NOT NULL,
     end_offset   INTEGER NOT NULL,
     title        TEXT NOT NULL DEFAULT ''
   );
   CREATE INDEX chunks_by_document ON chunks (document_id);

   CREATE VIRTUAL TABLE kw USING fts5 (text, title, content = '', tokenize = '${FTS_TOKENIZER}');
   CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
     INSERT INTO kw (rowid, text, title) VALUES (new.seq, new.text, new.title);
     UPDATE tenant SET chunks = chunks + 1;
   END;
   CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
     INSERT INTO kw (kw, rowid, text, title) VALUES ('delete', old.seq, old.text, old.title);
     UPDATE tenant SET chunks = chunks - 1;
   END;

   CREATE TABLE jobs (
     id          TEXT PRIMARY KEY,
     status      TEXT NOT NULL,
     documents   INTEGER NOT NULL,
     created_at  INTEGER NOT NULL,
     updated_at  INTEGER NOT NULL,
     finished_at INTEGER,
     enqueued_at INTEGER
   );
   CREATE TABLE job_documents (
     job_id       TEXT NOT NULL,
     document_id  TEXT NOT NULL,
     status       TEXT NOT NULL,
     content_hash TEXT NOT NULL,
     chunks       INTEGER NOT NULL DEFAULT 0,
     attempts     INTEGER NOT NULL DEFAULT 0,
     error        TEXT,
     updated_at   INTEGER NOT NULL,
     PRIMARY KEY (job_id, document_id)
   );

   CREATE TABLE vector_deletions (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
   CREATE INDEX vector_deletions_by_age ON vector_deletions (created_at);`,
  // 2: what \`edge-rag migrate tenant-data\` copied from D1 (its checksum), so that a rerun skips a tenant already copied.
  `CREATE TABLE import_state (
     id           INTEGER PRIMARY KEY CHECK (id = 1),
     digest       TEXT NOT NULL,
     completed_at INTEGER NOT NULL
   );`,
  // 3: the shard count the object was written under (tenant-shards.ts), and the documents a
  // multi-shard accept holds until every shard has accepted (each with the row it replaced).
  `ALTER TABLE tenant ADD COLUMN shards INTEGER;
   CREATE TABLE holds (
     hold_id      TEXT NOT NULL,
     document_id  TEXT NOT NULL,
     content_hash TEXT NOT NULL,
     previous     TEXT,
     created_at   INTEGER NOT NULL,
     PRIMARY KEY (hold_id, document_id)
   );
   CREATE INDEX holds_by_age ON holds (created_at);`,
  // 4: where each chunk came from (issue 27): its PDF page, its heading path joined with " › ";
  // and a document made from a file: its blocks' locations (\`layout\`, JSON: its text is their
  // texts joined, see layout.ts) and the key of its original in the files bucket.
  `ALTER TABLE chunks ADD COLUMN page INTEGER;
   ALTER TABLE chunks ADD COLUMN section TEXT;
   ALTER TABLE documents ADD COLUMN layout TEXT;
   ALTER TABLE documents ADD COLUMN file_key TEXT;`,
  // 5: the open jobs, which every commit and alarm asks about (whether the object must wake
  // again): an index of those few rows, not a scan of every job the tenant ever ran.
  `CREATE INDEX jobs_open ON jobs (created_at) WHERE finished_at IS NULL OR status = 'held';`,
  // 6: webhooks (issue 27; shard 0 holds them): the tenant's registrations (the signing secret kept
  // to sign with), one delivery per (webhook, job, event) — recording one twice is a no-op, so an
  // event fires once however often its job is finalized — and when each job's terminal event was
  // recorded (\`notified_at\`; jobs finished before this migration count as notified). The partial
  // indexes keep the alarm's checks for work left behind (deliveries never enqueued, finished jobs
  // not yet notified) to a lookup of what is pending.
  `CREATE TABLE webhooks (
     id         TEXT PRIMARY KEY,
     url        TEXT NOT NULL,
     events     TEXT NOT NULL,
     secret     TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE webhook_deliveries (
     seq              INTEGER PRIMARY KEY AUTOINCREMENT,
     id               TEXT NOT NULL UNIQUE,
     webhook_id       TEXT NOT NULL,
     job_id           TEXT NOT NULL,
     event            TEXT NOT NULL,
     payload          TEXT NOT NULL,
     status           TEXT NOT NULL DEFAULT 'pending',
     attempts         INTEGER NOT NULL DEFAULT 0,
     last_status_code INTEGER,
     last_error       TEXT,
     created_at       INTEGER NOT NULL,
     enqueued_at      INTEGER,
     delivered_at     INTEGER,
     UNIQUE (webhook_id, job_id, event)
   );
   CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
   CREATE INDEX webhook_deliveries_unsent ON webhook_deliveries (created_at) WHERE enqueued_at IS NULL;
   ALTER TABLE jobs ADD COLUMN notified_at INTEGER;
   UPDATE jobs SET notified_at = finished_at WHERE finished_at IS NOT NULL AND status <> 'held';
   CREATE INDEX jobs_unnotified ON jobs (finished_at) WHERE notified_at IS NULL;`,
  // 7: bucket sync (issue 27; bucket-sync.ts), kept in shard 0 (the tenant's own object): the
  // attached source (one), its runs (the generation is the run's id; the cursor is where the
  // listing resumes; the lease says which queue message works on it until when), and one row per
  // object key seen (relative to the prefix): the ETag indexed, the document it made (null for a
  // key that makes none; \`synced\` once the source indexed it, so that only what the source wrote
  // is removed with its key), the last run (generation) that saw it, and a failure
  // (\`failed_etag\`: the bytes the parser refused, not read again until they change).
  `CREATE TABLE sync_source (
     id          INTEGER PRIMARY KEY CHECK (id = 1),
     prefix      TEXT NOT NULL,
     collection  TEXT NOT NULL,
     attached_at INTEGER NOT NULL,
     updated_at  INTEGER NOT NULL
   );
   CREATE TABLE sync_runs (
     generation   INTEGER PRIMARY KEY AUTOINCREMENT,
     state        TEXT NOT NULL,
     trigger      TEXT NOT NULL,
     cursor       TEXT,
     listed       INTEGER NOT NULL DEFAULT 0,
     lease_holder TEXT,
     lease_until  INTEGER,
     added        INTEGER NOT NULL DEFAULT 0,
     changed      INTEGER NOT NULL DEFAULT 0,
     removed      INTEGER NOT NULL DEFAULT 0,
     unchanged    INTEGER NOT NULL DEFAULT 0,
     failed       INTEGER NOT NULL DEFAULT 0,
     started_at   INTEGER NOT NULL,
     updated_at   INTEGER NOT NULL,
     finished_at  INTEGER
   );
   CREATE TABLE sync_objects (
     key         TEXT PRIMARY KEY,
     document_id TEXT,
     synced      INTEGER NOT NULL DEFAULT 0,
     etag        TEXT,
     generation  INTEGER NOT NULL,
     error       TEXT,
     failed_etag TEXT
   );
   CREATE UNIQUE INDEX sync_objects_by_document ON sync_objects (document_id);
   CREATE INDEX sync_objects_by_generation ON sync_objects (generation);`,
  // 8: where a copy from D1 stands (resumed by the next start or command call), and what the last completed one recorded.
  `ALTER TABLE import_state ADD COLUMN progress TEXT;
   ALTER TABLE import_state ADD COLUMN copied TEXT;`,
];

/**
 * Brings the object's storage to the latest schema version; idempotent. Each migration and its
 * version mark commit together. Returns the version the storage is at.
 */
export function migrateTenantSchema(storage: DurableObjectStorage): number {
  const { sql } = storage;
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)");
  let version = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
  while (version < TENANT_SCHEMA.length) {
    const next = version + 1;
    storage.transactionSync(() => {
      sql.exec(TENANT_SCHEMA[version]!);
      sql.exec("INSERT INTO schema_version (id, version) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET version = excluded.version", next);
    });
    version = next;
  }
  return version;
}
