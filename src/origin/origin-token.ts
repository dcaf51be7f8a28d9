import { SignJWT } from "jose";

/**
 * The worker's credential for one origin call: HS256 with ORIGIN_JWT_SECRET, issuer
 * "edge-rag-worker", audience "origin:<path>" (the one endpoint it is for, e.g.
 * "origin:/v1/generate"), valid for ORIGIN_TOKEN_TTL_SECONDS. The origin (container/src/middleware/
 * auth.ts) refuses a token for another route and any token living longer than 60 s. Anything that
 * calls the origin (the deploy preflight's GET /v1/readyz too) mints its token here.
 *
 * Rollout: the token also names the old, route-less audience "origin", so that origins still on
 * the previous release (which want exactly that) keep accepting this worker's calls; current
 * origins ignore it and require the route's audience. Deploy the worker before the origin once;
 * drop LEGACY_ORIGIN_AUDIENCE when no origin of the previous release is left.
 */
export const LEGACY_ORIGIN_AUDIENCE = "origin";
export const ORIGIN_TOKEN_ISSUER = "edge-rag-worker";
export const ORIGIN_TOKEN_TTL_SECONDS = 30;

export const originAudience = (path: string) => `origin:${path}`;

export function mintOriginToken(secret: string | Uint8Array, path: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ORIGIN_TOKEN_ISSUER)
    .setAudience([originAudience(path), LEGACY_ORIGIN_AUDIENCE])
    .setIssuedAt()
    .setExpirationTime(`${ORIGIN_TOKEN_TTL_SECONDS}s`)
    .sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}
