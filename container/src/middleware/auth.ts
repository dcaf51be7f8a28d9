import type { MiddlewareHandler } from "hono";
import { errors, jwtVerify } from "jose";
import type { AppEnv } from "../app-env.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";

const ISSUER = "edge-rag-worker";
const MAX_LIFETIME_S = 60;
const CLOCK_TOLERANCE_S = 5;
/** The worker's tenant ids (src/auth/principal.ts TENANT_PATTERN). */
const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** The one route that serves no tenant: the worker's and the deploy preflight's readiness check. */
const NO_TENANT_PATHS = new Set(["/v1/readyz"]);

/** The audience a worker token for this route carries: a token is good for one endpoint only. */
export const originAudience = (path: string) => `origin:${path}`;

/**
 * Every /v1 call carries a short-lived HS256 JWT minted by the worker with the shared secret:
 * iss "edge-rag-worker", aud "origin:<path>" (the endpoint it calls, e.g. "origin:/v1/generate",
 * so a token captured on one route is useless on another), exp at most 60 s after iat, a `jti`
 * this process has not seen before (a captured token cannot be replayed to this pod within its
 * lifetime), and `tenant`, the tenant the call is for (every route but /v1/readyz), which the
 * access line logs. Anything else is a 401 with `WWW-Authenticate: Bearer`.
 */
export function requireWorkerToken(secret: string, logger?: Logger): MiddlewareHandler<AppEnv> {
  const key = new TextEncoder().encode(secret);
  const replays = createReplayGuard();
  return async (c, next) => {
    const header = c.req.header("authorization");
    const token = header?.match(/^Bearer[ \t]+([A-Za-z0-9_\-.]+)$/i)?.[1];
    if (!header) throw new UnauthorizedError("TOKEN_MISSING", "An Authorization: Bearer token from the worker is required.");
    if (!token) throw new UnauthorizedError("TOKEN_INVALID", "The Authorization header is not a Bearer token.");
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: originAudience(c.req.path),
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp", "iat", "jti"],
        maxTokenAge: MAX_LIFETIME_S,
      });
      if (payload.exp! - payload.iat! > MAX_LIFETIME_S) {
        throw new UnauthorizedError("TOKEN_INVALID", `The token lives longer than ${MAX_LIFETIME_S} seconds.`);
      }
      const tenant = payload.tenant;
      if (!NO_TENANT_PATHS.has(c.req.path) && (typeof tenant !== "string" || !TENANT_PATTERN.test(tenant))) {
        throw new UnauthorizedError("TOKEN_INVALID", "The token names no valid tenant.");
      }
      // Last, so that only a token good in every other way is remembered.
      if (!replays.firstUse(payload.jti!, (payload.exp! + CLOCK_TOLERANCE_S) * 1000)) {
        throw new UnauthorizedError("TOKEN_REPLAYED", "The token has already been used.");
      }
      c.set("tenant", typeof tenant === "string" ? tenant : undefined);
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof errors.JWTExpired) throw new UnauthorizedError("TOKEN_EXPIRED", "The token has expired.");
      throw new UnauthorizedError("TOKEN_INVALID", "The token is invalid.", err);
    }
    await next();
    // Who the call was for; never the token.
    logger?.info("worker call", { request_id: c.get("requestId"), path: c.req.path, tenant: c.get("tenant"), status: c.res.status });
  };
}

/**
 * The `jti`s this process accepted, each until its token could no longer pass anyway (exp plus the
 * clock tolerance): at most a minute of the worker's calls. Per process and safe to lose: another
 * pod, or this one after a restart, has its own memory, so a replay within the token's 30 s is
 * refused by the pod that saw it first.
 */
function createReplayGuard() {
  const seen = new Map<string, number>();
  let nextSweep = 0;
  return {
    firstUse(jti: string, validUntilMs: number): boolean {
      const now = Date.now();
      if (now >= nextSweep) {
        for (const [id, until] of seen) if (until <= now) seen.delete(id);
        nextSweep = now + 1_000;
      }
      const until = seen.get(jti);
      if (until !== undefined && until > now) return false;
      seen.set(jti, validUntilMs);
      return true;
    },
  };
}

/** 401s carry the challenge; the app's error handler keeps headers set on the context. */
export class UnauthorizedError extends AppError {
  readonly challenge: string;
  constructor(code: "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" | "TOKEN_REPLAYED", detail: string, cause?: unknown) {
    super(code, detail, { cause });
    this.challenge =
      code === "TOKEN_MISSING" ? 'Bearer realm="origin"' : `Bearer realm="origin", error="invalid_token", error_description="${detail}"`;
  }
}
