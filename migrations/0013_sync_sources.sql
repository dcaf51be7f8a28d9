-- Tenants with a bucket sync source attached (issue 27, src/ingest/bucket-sync.ts): the control
-- plane's list that the cron trigger reads to enqueue one sync per tenant, so that it never has to
-- wake every tenant's object to ask. The source itself (prefix, collection, runs, per-object ETags)
-- is tenant data, in the tenant's own Durable Object; this row is written when a source is attached
-- and deleted when it is detached (PUT and DELETE /v1/sync) or the tenant is deleted.
CREATE TABLE sync_sources (
  tenant      TEXT PRIMARY KEY,
  attached_at INTEGER NOT NULL
);
