import { SignJWT } from "jose";

/**
 * The worker's credential for one origin request: HS256 with ORIGIN_JWT_SECRET, issuer
 * "edge-rag-worker", audience "origin:<path>" (the one endpoint it is for, e.g.
 * "origin:/v1/generate"), a fresh `jti`, the `tenant` it is on behalf of, valid for
 * ORIGIN_TOKEN_TTL_SECONDS. The origin (container/src/middleware/auth.ts) refuses a token for
 * another route, any token living longer than 60 s, a data route's token without a tenant, and a
 * `jti` it has already seen: so mint one per request (a retry or a failover too), never reuse one.
 * Anything that calls the origin (the deploy preflight's GET /v1/readyz too) mints its token here.
 */
export const ORIGIN_TOKEN_ISSUER = "edge-rag-worker";
export const ORIGIN_TOKEN_TTL_SECONDS = 30;

export const originAudience = (path: string) => `origin:${path}`;

/** `tenant` is required for every route but the readiness probe (GET /v1/readyz), which serves no tenant. */
export function mintOriginToken(secret: string | Uint8Array, path: string, tenant?: string): Promise<string> {
  return new SignJWT(tenant === undefined ? {} : { tenant })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ORIGIN_TOKEN_ISSUER)
    .setAudience(originAudience(path))
    .setIssuedAt()
    .setExpirationTime(`${ORIGIN_TOKEN_TTL_SECONDS}s`)
    .setJti(crypto.randomUUID())
    .sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}
