-- The query cache (src/cache/). DELETE /v1/cache bumps a tenant's cache epoch, which is part of
-- every cache key of the tenant: its earlier entries stop matching everywhere at once.
ALTER TABLE tenants ADD COLUMN cache_epoch INTEGER NOT NULL DEFAULT 0;
