-- Where a tenant's data lives (issue 23): a Durable Object location hint for the tenant's object,
-- taken when the object is first created (later changes do not move it). NULL: placed near its
-- first request. Set by operators before the tenant's first document, e.g.:
--   INSERT INTO tenants (tenant, updated_at, region) VALUES ('acme', 0, 'weur')
--   ON CONFLICT (tenant) DO UPDATE SET region = excluded.region;
ALTER TABLE tenants ADD COLUMN region TEXT CHECK (region IS NULL OR region IN ('wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'oc', 'afr', 'me'));
