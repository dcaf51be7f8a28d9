-- Keyword ranking weighs a document's title apart from its text (metadata.title, a string): the
-- tenant's FTS5 index (src/retrieval/keyword-index.ts) gains a `title` column. Each chunk row
-- carries its document's title as indexed, so the index's triggers insert and delete exactly the
-- values they indexed (a contentless FTS5 table needs the original values to delete a row).
--
-- Nothing is rewritten here: each tenant's existing chunks get their titles, and its index is
-- rebuilt with them under a new name (dropping the old one), in one batch on the tenant's next
-- write or keyword query, so the cost is spread per tenant instead of one statement over every row.
ALTER TABLE chunks ADD COLUMN title TEXT NOT NULL DEFAULT '';
