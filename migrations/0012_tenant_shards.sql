-- How many objects hold a tenant's data (issue 23, src/tenant/tenant-shards.ts): documents are
-- placed by a hash of their id modulo this count, and queries fan out to every shard. Set by
-- operators before the tenant's first document (no resharding command exists yet: a tenant's
-- objects refuse writes under another count once they hold documents), e.g.:
--   INSERT INTO tenants (tenant, updated_at, shards) VALUES ('acme', 0, 4)
--   ON CONFLICT (tenant) DO UPDATE SET shards = excluded.shards;
ALTER TABLE tenants ADD COLUMN shards INTEGER NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 64);
