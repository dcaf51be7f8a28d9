-- Per-tenant keyword indexes (src/retrieval/keyword-index.ts): BM25 statistics of one tenant must
-- not depend on another tenant's chunks, so each tenant gets its own contentless FTS5 table
-- `kw_<hash>` (created with its triggers and backfilled from `chunks` in one batch, on the tenant's
-- first indexing commit or first keyword query). This table records which tenants have one; an
-- existing tenant's index is built from its chunks on its first query after this migration.
CREATE TABLE keyword_indexes (
  tenant     TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

-- The shared index and its triggers go: every chunk write would otherwise still pay for it.
DROP TRIGGER chunks_ai;
DROP TRIGGER chunks_ad;
DROP TABLE chunks_fts;
