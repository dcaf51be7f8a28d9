-- The storage quotas' guard against concurrent writers (src/store/tenant-limits.ts quotaGuardStatements,
-- chunkQuotaGuardStatements). An ingest batch (or an indexing commit) writes one row here after its
-- documents (or chunks), asserting that the tenant is still within its quotas with those writes in
-- place, and deletes it again: a D1 batch is one transaction, so when concurrent writers took the
-- tenant past a quota, the CHECK fails and the whole batch writes nothing.
-- The table is always empty between batches.
CREATE TABLE quota_guard (
  tenant TEXT NOT NULL,
  within_quota INTEGER NOT NULL CHECK (within_quota = 1)
);
