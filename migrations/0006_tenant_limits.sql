-- Per-tenant plans and limits (issue 11). `limits` is a JSON object; any member it lacks (or a
-- NULL column) falls back to the worker's configured defaults (TENANT_RATE_LIMIT_*, TENANT_MAX_*):
--   {"query": "600/60s", "ingest": "300/60s", "auth": "60/60s",
--    "max_api_keys": 50, "max_documents": 100000, "max_chunks": 2000000, "max_bytes": 1073741824}
-- Set by operators, e.g.:
--   INSERT INTO tenants (tenant, updated_at, plan, limits) VALUES ('acme', 0, 'pro', '{"query":"3000/60s"}')
--   ON CONFLICT (tenant) DO UPDATE SET plan = excluded.plan, limits = excluded.limits;
ALTER TABLE tenants ADD COLUMN plan TEXT;
ALTER TABLE tenants ADD COLUMN limits TEXT;

-- Login tokens carry the user's token version; bumping it (disabling the user, changing roles,
-- "log out everywhere") kills every token minted before.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
