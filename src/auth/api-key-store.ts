import type { ApiKeyRecord } from "./api-keys";
import { generateApiKey } from "./api-keys";
import { parseRoles, type Role } from "./principal";

/**
 * API keys in D1 with a per-isolate read cache. Promise: `find` answers from memory for at most
 * `cacheTtlMs` after a D1 read (API_KEY_CACHE_TTL_SECONDS: 5 s, at most 10), so a revoked key stops
 * working everywhere within that time (the revoking isolate forgets it at once). A key found past
 * half that time is read again after the response (`background`, waitUntil), so a key in steady
 * use never waits on D1 after its first read. Reads go to the primary, not a read replica: a
 * replica's lag has no bound, and would add to this one. A D1 failure propagates (the caller
 * answers 503); a failed background read only leaves the cached one to expire. Latency: none when
 * cached, else one indexed read.
 */
export interface ApiKeyStore {
  create(input: {
    tenant: string;
    name: string;
    roles: Role[];
    expiresAt: number | null;
    createdBy: string | null;
    /** The tenant's cap on active keys: null (nothing written) when it already has that many. */
    maxActive?: number;
  }): Promise<{ record: ApiKeyRecord; key: string } | null>;
  /** The tenant's keys, newest first, each with whether its creator can still act (see ListedApiKey). */
  list(tenant: string): Promise<ListedApiKey[]>;
  /** Revokes the tenant's key; false when the tenant has no such key. Idempotent. */
  revoke(tenant: string, id: string): Promise<boolean>;
  /** `background` takes the re-read of a key past half its cache time (hand it to waitUntil). */
  find(id: string, background?: (work: Promise<unknown>) => void): Promise<ApiKeyRecord | null>;
  /** Records use, at most once a minute per key and isolate (it is for humans, not for auth). */
  touch(id: string, now: number): Promise<void>;
}

/**
 * Keys belong to the tenant, not to their creator (docs/security.md, "API keys and their
 * creators"): a creator's leaving does not revoke them, so the listing shows it. `creatorDisabled`:
 * true when the creator can no longer act in the tenant (a user disabled, deleted or moved to another
 * tenant; a key revoked or expired), false when it still can, null when this service cannot tell (an
 * identity provider's subject, the CLI).
 */
export interface ListedApiKey extends ApiKeyRecord {
  creatorDisabled: boolean | null;
}

interface Row extends Omit<ApiKeyRecord, "roles"> {
  roles: string;
}

const toRecord = (row: Row): ApiKeyRecord => ({ ...row, roles: parseRoles(JSON.parse(row.roles)) });

// Safe to lose: a cold isolate just reads D1 again.
const cache = new Map<string, { record: ApiKeyRecord | null; readAt: number }>();
const rereading = new Set<string>();
const lastTouched = new Map<string, number>();
const CACHE_MAX_ENTRIES = 10_000;

export function createApiKeyStore(db: D1Database, options: { cacheTtlMs: number; now?: () => number }): ApiKeyStore {
  const clock = options.now ?? Date.now;

  /** Reads the key and caches it as read when the read began; a re-read replaces only the entry it refreshes (a revoke's deletion stays). */
  async function read(id: string, refreshing?: object): Promise<ApiKeyRecord | null> {
    const readAt = clock();
    const row = await db.prepare("SELECT * FROM api_keys WHERE id = ?1").bind(id).first<Row>();
    const record = row ? toRecord(row) : null;
    if (refreshing && cache.get(id) !== refreshing) return record;
    if (cache.size >= CACHE_MAX_ENTRIES) cache.clear();
    cache.set(id, { record, readAt });
    return record;
  }
  return {
    async create({ tenant, name, roles, expiresAt, createdBy, maxActive }) {
      const generated = await generateApiKey();
      const record: ApiKeyRecord = {
        id: generated.id,
        tenant,
        name,
        roles,
        secret_hash: generated.secretHash,
        created_at: Date.now(),
        created_by: createdBy,
        expires_at: expiresAt,
        revoked_at: null,
        last_used_at: null,
      };
      // One statement, so two concurrent creates cannot both take the last place under the cap.
      const result = await db
        .prepare(
          `INSERT INTO api_keys (id, tenant, name, roles, secret_hash, created_at, created_by, expires_at)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
           WHERE (SELECT COUNT(*) FROM api_keys WHERE tenant = ?2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?6)) < ?9`,
        )
        .bind(
          record.id,
          tenant,
          name,
          JSON.stringify(roles),
          record.secret_hash,
          record.created_at,
          createdBy,
          expiresAt,
          maxActive ?? Number.MAX_SAFE_INTEGER,
        )
        .run();
      if (result.meta.changes === 0) return null;
      return { record, key: generated.key };
    },

    async list(tenant) {
      const { results } = await db
        .prepare(
          `SELECT k.*, CASE
             WHEN k.created_by LIKE 'user:%' THEN u.username IS NULL OR u.disabled_at IS NOT NULL
             WHEN k.created_by LIKE 'key:%' THEN c.id IS NULL OR c.revoked_at IS NOT NULL OR (c.expires_at IS NOT NULL AND c.expires_at <= ?2)
           END AS creator_disabled
           FROM api_keys k
           LEFT JOIN users u ON u.username = substr(k.created_by, 6) AND u.tenant = k.tenant
           LEFT JOIN api_keys c ON c.id = substr(k.created_by, 5) AND c.tenant = k.tenant
           WHERE k.tenant = ?1 ORDER BY k.created_at DESC LIMIT 1000`,
        )
        .bind(tenant, Date.now())
        .all<Row & { creator_disabled: number | null }>();
      return results.map(({ creator_disabled, ...row }) => ({
        ...toRecord(row),
        creatorDisabled: creator_disabled === null ? null : creator_disabled === 1,
      }));
    },

    async revoke(tenant, id) {
      const result = await db
        .prepare("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE id = ?1 AND tenant = ?2")
        .bind(id, tenant, Date.now())
        .run();
      cache.delete(id);
      return result.meta.changes > 0;
    },

    async find(id, background) {
      const hit = cache.get(id);
      const age = hit ? clock() - hit.readAt : Infinity;
      if (age >= options.cacheTtlMs) return read(id);
      if (background && age >= options.cacheTtlMs / 2 && !rereading.has(id)) {
        rereading.add(id);
        background(
          read(id, hit)
            .then(undefined, () => {})
            .finally(() => rereading.delete(id)),
        );
      }
      return hit!.record;
    },

    async touch(id, now) {
      if ((lastTouched.get(id) ?? 0) > now - 60_000) return;
      lastTouched.set(id, now);
      if (lastTouched.size > CACHE_MAX_ENTRIES) lastTouched.clear();
      await db.prepare("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1").bind(id, now).run();
    },
  };
}
