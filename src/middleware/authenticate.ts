import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { checkApiKeyRecord, digestsEqual, looksLikeApiKey, parseApiKey, sha256Hex } from "../auth/api-keys";
import { assertRole, type Principal, type Role } from "../auth/principal";
import { verifyBearerJwt } from "../auth/tokens";
import { ApiError, rateLimited, unauthorized } from "../errors";
import { bucketKey, clientNetwork, decide } from "./rate-limit";

/**
 * Establishes the request's principal from exactly one credential: `Authorization: Bearer <JWT |
 * API key>` or `X-API-Key: <API key>`. Missing or bad credentials → 401 with WWW-Authenticate;
 * a principal without `role` → 403.
 */
export function authenticate(options: { role?: Role; allow?: Array<Principal["auth"]> } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = await throttledResolve(c);
    if (options.allow && !options.allow.includes(principal.auth)) {
      throw unauthorized("CREDENTIAL_NOT_ACCEPTED", `this route accepts only ${options.allow.join(" or ")} credentials`, "invalid_request");
    }
    if (options.role) assertRole(principal, options.role);
    c.set("principal", principal);
    await next();
  });
}

type Ctx = Parameters<Parameters<typeof createMiddleware<AppEnv>>[0]>[0];

/**
 * IPs whose failed-authentication budget (RATE_LIMIT_AUTH_FAILURES_IP) is spent, until its reset:
 * this isolate answers them 429 before any credential lookup (no D1, no Redis). Safe to lose.
 */
const throttledIps = new Map<string, number>();

/**
 * Failed authentication is limited per client network (an IPv6 /64: `networkOf`): every presented
 * credential that fails (not a missing one) costs a token of the network's `auth-fail-ip` bucket; once it is spent the failure is a
 * 429, and this isolate refuses the IP up front until the window resets.
 */
async function throttledResolve(c: Ctx): Promise<Principal> {
  const ip = clientNetwork(c);
  const until = throttledIps.get(ip);
  if (until !== undefined) {
    if (until > Date.now()) throw rateLimited(Math.max(1, Math.ceil((until - Date.now()) / 1000)), {});
    throttledIps.delete(ip);
  }
  try {
    return await resolvePrincipal(c);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && error.code !== "CREDENTIALS_MISSING") {
      try {
        await decide(c, "auth-fail-ip", bucketKey(ip));
      } catch (limited) {
        // Spent: 429, and this isolate refuses the IP up front until the reset. Anything else (the
        // limiter's store is down) leaves the answer what it was: the credential's 401.
        if (limited instanceof ApiError && limited.code === "RATE_LIMITED") {
          if (throttledIps.size > 10_000) throttledIps.clear();
          throttledIps.set(ip, Date.now() + Number(limited.headers["retry-after"] ?? 60) * 1000);
          throw limited;
        }
      }
    }
    throw error;
  }
}

async function resolvePrincipal(c: Ctx): Promise<Principal> {
  const authorization = c.req.header("authorization");
  const headerKey = c.req.header("x-api-key");
  if (authorization && headerKey) {
    throw new ApiError("AMBIGUOUS_CREDENTIALS", "send either Authorization or X-API-Key, not both");
  }
  let credential: string;
  let kind: "bearer" | "api_key";
  if (headerKey !== undefined) {
    credential = headerKey.trim();
    kind = "api_key";
  } else if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthorized("CREDENTIALS_MALFORMED", "the Authorization header must be `Bearer <token>`", "invalid_request");
    credential = match[1]!;
    kind = looksLikeApiKey(credential) ? "api_key" : "bearer";
  } else {
    throw unauthorized("CREDENTIALS_MISSING", "this route needs a bearer token or an API key", "invalid_request");
  }

  const { services } = c.var;
  if (kind === "api_key") {
    const parts = parseApiKey(credential);
    if (!parts) throw unauthorized("API_KEY_INVALID", "the API key is not valid");
    const record = await services.apiKeys.find(parts.id, (work) => c.executionCtx.waitUntil(work));
    const check = checkApiKeyRecord(record, Date.now());
    // Compare even when the id is unknown, so timing does not reveal which ids exist.
    const presented = await sha256Hex(parts.secret);
    const matches = digestsEqual(presented, record?.secret_hash ?? "0".repeat(64));
    if (!matches) throw unauthorized("API_KEY_INVALID", "the API key is not valid");
    if (!check.ok)
      throw unauthorized(check.reason, check.reason === "API_KEY_EXPIRED" ? "the API key has expired" : "the API key has been revoked");
    c.executionCtx.waitUntil(services.apiKeys.touch(parts.id, Date.now()).catch(() => {}));
    return check.principal;
  }

  const principal = await verifyBearerJwt(c.var.config, credential);
  // The sign-out check runs beside the key or user lookup, so it adds no round trip of its own.
  const [signedOut] = await Promise.all([
    principal.session ? services.revokedTokens.isRevoked(principal.sub, principal.session.id) : false,
    checkIssuer(c, principal),
  ]);
  if (signedOut) throw unauthorized("TOKEN_REVOKED", "this token has been signed out");
  return principal;
}

/** Our own tokens die with what they were issued for: the API key, or the user's current state. */
async function checkIssuer(c: Ctx, principal: Principal): Promise<void> {
  const { services } = c.var;
  if (principal.keyId) {
    // A token exchanged from an API key dies with the key.
    const check = checkApiKeyRecord(await services.apiKeys.find(principal.keyId, (work) => c.executionCtx.waitUntil(work)), Date.now());
    if (!check.ok) throw unauthorized("TOKEN_REVOKED", "the API key this token was issued for is no longer valid");
  }
  if (principal.tokenVersion !== undefined) {
    // A login token dies when its user is disabled, changes tenant or roles, or has its token
    // version bumped (within API_KEY_CACHE_TTL_SECONDS).
    const user = await services.users.find(principal.sub.slice("user:".length));
    const sameRoles = user !== null && user.roles.length === principal.roles.length && user.roles.every((r) => principal.roles.includes(r));
    if (!user || user.disabled || user.tenant !== principal.tenant || user.tokenVersion !== principal.tokenVersion || !sameRoles) {
      throw unauthorized("TOKEN_REVOKED", "this login token has been revoked");
    }
  }
}
