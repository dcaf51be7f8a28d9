import { forbidden } from "../errors";

export const ROLES = ["reader", "writer", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: every request that touches data has exactly one. */
export interface Principal {
  /** Stable subject: `key:<id>` for API keys and tokens minted from them, `user:<name>`, or the IdP's `sub`. */
  sub: string;
  tenant: string;
  roles: Role[];
  auth: "jwt" | "api_key";
  /** The API key behind this principal (also for tokens exchanged from a key), for revocation. */
  keyId?: string;
  /** Login tokens (ours, `user:` subjects): the user's token version when it was minted, for revocation. */
  tokenVersion?: number;
  /** This service's own tokens (login or key exchange): their `jti` and `exp` (epoch s), for sign-out. */
  session?: { id: string; expiresAt: number };
}

/** Tenant ids double as Vectorize namespaces (<= 64 bytes) and key prefixes, hence the strict shape. */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function parseRoles(value: unknown): Role[] {
  const list = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[\s,]+/) : [];
  return ROLES.filter((role) => list.includes(role));
}

// Roles are cumulative: an admin may do what a writer may, a writer what a reader may.
const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };

export function hasRole(principal: Principal, required: Role): boolean {
  return principal.roles.some((role) => RANK[role] >= RANK[required]);
}

export function assertRole(principal: Principal, required: Role): void {
  if (!hasRole(principal, required)) throw forbidden(`this operation needs the ${required} role`);
}

/**
 * An operator runs the service for every tenant: an admin of the configured OPERATOR_TENANT.
 * Nobody is an operator when it is unset.
 */
export function isOperator(principal: Principal, operatorTenant: string | undefined): boolean {
  return operatorTenant !== undefined && principal.tenant === operatorTenant && hasRole(principal, "admin");
}
