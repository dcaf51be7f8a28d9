-- Keyword ranking weighs a document's title apart from its text (metadata.title, a string): the
-- tenant's FTS5 index (src/retrieval/keyword-index.ts) gains a `title` column. Each chunk row
-- carries its document's title as indexed, so the index's triggers insert and delete exactly the
-- values they indexed (a contentless FTS5 table needs the original values to delete a row).
ALTER TABLE chunks ADD COLUMN title TEXT NOT NULL DEFAULT '';

-- Existing chunks take the title of the metadata they were indexed with (documents.metadata).
UPDATE chunks SET title = coalesce(
  (SELECT json_extract(d.metadata, '$.title') FROM documents d
   WHERE d.tenant = chunks.tenant AND d.id = chunks.document_id AND json_type(d.metadata, '$.title') = 'text'),
  '');

-- The tenants' indexes are rebuilt under a new name, with titles, on each tenant's next write or
-- keyword query; that same batch drops the old table and its triggers.
