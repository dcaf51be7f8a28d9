/**
 * Signed-out tokens: a `jti` deny list in D1, each entry kept until its token expires. Promise:
 * `isRevoked` answers from isolate memory for at most `cacheTtlMs` after one D1 read of the
 * subject's entries, so a token signed out in one colo is refused everywhere within that time (the
 * isolate that signed it out refuses it at once). Callers run it beside the key or user lookup
 * they already make, so it adds no sequential round trip. A D1 failure propagates (503).
 */
export interface RevokedTokenStore {
  /** Denies `jti` (a token of `subject`) until `expiresAt` (epoch seconds). Idempotent. */
  revoke(subject: string, jti: string, expiresAt: number): Promise<void>;
  isRevoked(subject: string, jti: string): Promise<boolean>;
}

// Safe to lose: a cold isolate reads D1 again.
const cache = new Map<string, { jtis: Set<string>; until: number }>();
const CACHE_MAX_ENTRIES = 10_000;

export function createRevokedTokenStore(db: D1Database, options: { cacheTtlMs: number }): RevokedTokenStore {
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  return {
    async revoke(subject, jti, expiresAt) {
      await db.batch([
        db.prepare("INSERT OR IGNORE INTO revoked_tokens (jti, subject, expires_at) VALUES (?1, ?2, ?3)").bind(jti, subject, expiresAt),
        // The subject's expired entries are dead weight in every later read of its list.
        db.prepare("DELETE FROM revoked_tokens WHERE subject = ?1 AND expires_at <= ?2").bind(subject, nowSeconds()),
      ]);
      cache.get(subject)?.jtis.add(jti);
    },

    async isRevoked(subject, jti) {
      const now = Date.now();
      let hit = cache.get(subject);
      if (!hit || hit.until <= now) {
        const { results } = await db
          .prepare("SELECT jti FROM revoked_tokens WHERE subject = ?1 AND expires_at > ?2")
          .bind(subject, nowSeconds())
          .all<{ jti: string }>();
        hit = { jtis: new Set(results.map((row) => row.jti)), until: now + options.cacheTtlMs };
        if (cache.size >= CACHE_MAX_ENTRIES) cache.clear();
        cache.set(subject, hit);
      }
      return hit.jtis.has(jti);
    },
  };
}
