-- edge-rag schema. D1 is the source of truth for documents, chunks, jobs and credentials;
-- the vector index is derived from it and can be rebuilt from `chunks`.
-- Every row that belongs to a tenant carries `tenant`, and every query filters on it.

-- Per-tenant counters. `index_version` bumps whenever the tenant's searchable content changes;
-- it keys the query cache so a write invalidates every cached answer of that tenant at once.
CREATE TABLE tenants (
  tenant        TEXT PRIMARY KEY,
  index_version INTEGER NOT NULL DEFAULT 0,
  updated_at    INTEGER NOT NULL
);

-- API keys look like erk_<id>_<secret>. Only a SHA-256 of the secret is stored: the secret is 256
-- random bits, so a slow KDF adds nothing but latency.
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  tenant       TEXT NOT NULL,
  name         TEXT NOT NULL,
  roles        TEXT NOT NULL,          -- JSON array of roles
  secret_hash  TEXT NOT NULL,          -- hex SHA-256 of the secret part
  created_at   INTEGER NOT NULL,       -- epoch ms
  created_by   TEXT,
  expires_at   INTEGER,                -- epoch ms, NULL = never
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);

-- Users for /v1/auth/login. Usernames are global (login names no tenant); the password hash is
-- PBKDF2-SHA256 in the form pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>.
CREATE TABLE users (
  username      TEXT PRIMARY KEY,
  tenant        TEXT NOT NULL,
  roles         TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  disabled_at   INTEGER
);

-- Documents as accepted. Written before anything is enqueued, so nothing accepted can be lost.
CREATE TABLE documents (
  tenant        TEXT NOT NULL,
  id            TEXT NOT NULL,
  collection    TEXT NOT NULL,
  text          TEXT NOT NULL,
  metadata      TEXT NOT NULL DEFAULT '{}',   -- JSON object
  content_hash  TEXT NOT NULL,                -- of text + metadata + collection
  indexed_hash  TEXT,                         -- content_hash currently in chunks/vectors
  status        TEXT NOT NULL,                -- queued | indexed | failed
  chunk_count   INTEGER NOT NULL DEFAULT 0,
  job_id        TEXT,
  error         TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX documents_by_collection ON documents (tenant, collection);

-- Chunks: the text that is searched and cited. `seq` is the stable integer rowid FTS5 needs;
-- `id` is the vector id in the index (<= 64 bytes).
CREATE TABLE chunks (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  tenant       TEXT NOT NULL,
  document_id  TEXT NOT NULL,
  collection   TEXT NOT NULL,
  chunk_index  INTEGER NOT NULL,
  text         TEXT NOT NULL,
  start_offset INTEGER NOT NULL,
  end_offset   INTEGER NOT NULL
);
CREATE INDEX chunks_by_document ON chunks (tenant, document_id);

-- BM25 keyword index over chunks (external content: the text lives once, in `chunks`).
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
  text,
  content = 'chunks',
  content_rowid = 'seq',
  tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;

-- Ingestion jobs and their per-document progress.
CREATE TABLE jobs (
  id          TEXT PRIMARY KEY,
  tenant      TEXT NOT NULL,
  status      TEXT NOT NULL,          -- queued | processing | done | failed
  documents   INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX jobs_by_tenant ON jobs (tenant, created_at);

CREATE TABLE job_documents (
  job_id      TEXT NOT NULL,
  tenant      TEXT NOT NULL,
  document_id TEXT NOT NULL,
  status      TEXT NOT NULL,          -- queued | done | skipped | failed
  chunks      INTEGER NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  error       TEXT,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (job_id, document_id)
);
