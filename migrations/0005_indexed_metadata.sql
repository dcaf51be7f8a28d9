-- What queries see of a document is the version its chunks were indexed from, until a newer
-- version's indexing commit replaces them (src/ingest/**).

-- The metadata as last accepted: GET /v1/documents shows it, the indexer embeds with it.
-- `documents.metadata` is from now on the metadata of the indexed version — what queries cite and
-- filter on (next to chunks.collection), as the vectors carry it — and the indexing commit copies
-- accepted_metadata into it in the same D1 batch that replaces the chunks, so a re-ingest never
-- shows its new metadata on the old text, nor lets a filter on the new values match the old text.
ALTER TABLE documents ADD COLUMN accepted_metadata TEXT NOT NULL DEFAULT '{}';
UPDATE documents SET accepted_metadata = metadata;
