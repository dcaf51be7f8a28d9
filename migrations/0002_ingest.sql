-- Ingestion bookkeeping (src/ingest/**).

-- What the origin reported at the tenant's last ingest (GET /v1/stats).
ALTER TABLE tenants ADD COLUMN embedding_model TEXT;

-- The content a job was asked to index. When a later POST changes the document, the document's
-- content_hash moves on and this job's row is skipped as superseded instead of resurrecting it.
ALTER TABLE job_documents ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';

-- Set once every message of the job is on the queue. A job left NULL past a grace period (the
-- enqueue failed, or the isolate died between the D1 write and the send) is re-enqueued by the
-- scheduled sweeper.
ALTER TABLE jobs ADD COLUMN enqueued_at INTEGER;
CREATE INDEX jobs_not_enqueued ON jobs (created_at) WHERE enqueued_at IS NULL;

-- Vector ids whose chunks left D1 (document replaced or deleted) but that may still be in the
-- vector index. Written in the same D1 batch that removes the chunks, deleted once Vectorize has
-- accepted the deleteByIds, so a failed vector delete is retried rather than forgotten.
CREATE TABLE vector_deletions (
  tenant     TEXT NOT NULL,
  id         TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX vector_deletions_by_age ON vector_deletions (created_at);
