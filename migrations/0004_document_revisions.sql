-- Document revisions (src/ingest/**).

-- A random id of the document's current accepted version: new whenever POST /v1/documents changes
-- the content (kept when the same content is sent again), and never the same twice, even when the
-- content goes A → B → A or the document is deleted and sent again. Chunk ids — the vector ids —
-- derive from it, so the ids of a version the document has left (recorded in vector_deletions and
-- purged from the vector index at any moment) can never belong to a live chunk again; and the
-- indexing commit is guarded by it, so work for a version the document has left never commits.
ALTER TABLE documents ADD COLUMN revision TEXT NOT NULL DEFAULT '';
UPDATE documents SET revision = lower(hex(randomblob(16)));
