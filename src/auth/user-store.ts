import { parseRoles, type Role } from "./principal";

/**
 * Users' revocation state for login tokens, read from D1 with a per-isolate cache. Promise: `find`
 * answers from memory for at most `cacheTtlMs` after a D1 read, so disabling a user, changing their
 * roles or bumping their token version kills their tokens everywhere within that time. A D1
 * failure propagates (the caller answers 503).
 */
export interface UserState {
  tenant: string;
  roles: Role[];
  tokenVersion: number;
  disabled: boolean;
}

export interface UserStore {
  find(username: string): Promise<UserState | null>;
}

// Safe to lose: a cold isolate reads D1 again.
const cache = new Map<string, { state: UserState | null; until: number }>();

export function createUserStore(db: D1Database, options: { cacheTtlMs: number }): UserStore {
  return {
    async find(username) {
      const now = Date.now();
      const hit = cache.get(username);
      if (hit && hit.until > now) return hit.state;
      const row = await db
        .prepare("SELECT tenant, roles, token_version, disabled_at FROM users WHERE username = ?1")
        .bind(username)
        .first<{ tenant: string; roles: string; token_version: number; disabled_at: number | null }>();
      const state = row
        ? {
            tenant: row.tenant,
            roles: parseRoles(JSON.parse(row.roles)),
            tokenVersion: row.token_version,
            disabled: row.disabled_at !== null,
          }
        : null;
      if (cache.size >= 10_000) cache.clear();
      cache.set(username, { state, until: now + options.cacheTtlMs });
      return state;
    },
  };
}
