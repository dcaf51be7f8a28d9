import type { MiddlewareHandler } from "hono";
import { errors, jwtVerify } from "jose";
import type { AppEnv } from "../app-env.ts";
import { AppError } from "../errors.ts";

const ISSUER = "edge-rag-worker";
const MAX_LIFETIME_S = 60;

/** The audience a worker token for this route carries: a token is good for one endpoint only. */
export const originAudience = (path: string) => `origin:${path}`;

/**
 * Every /v1 call carries a short-lived HS256 JWT minted by the worker with the shared secret:
 * iss "edge-rag-worker", aud "origin:<path>" (the endpoint it calls, e.g. "origin:/v1/generate",
 * so a token captured on one route is useless on another), exp at most 60 s after iat, optional
 * sub (the tenant). Anything else is a 401 with `WWW-Authenticate: Bearer`.
 */
export function requireWorkerToken(secret: string): MiddlewareHandler<AppEnv> {
  const key = new TextEncoder().encode(secret);
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
        clockTolerance: 5,
        requiredClaims: ["exp", "iat"],
        maxTokenAge: MAX_LIFETIME_S,
      });
      if (payload.exp! - payload.iat! > MAX_LIFETIME_S) {
        throw new UnauthorizedError("TOKEN_INVALID", `The token lives longer than ${MAX_LIFETIME_S} seconds.`);
      }
      c.set("tenant", typeof payload.sub === "string" ? payload.sub : undefined);
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof errors.JWTExpired) throw new UnauthorizedError("TOKEN_EXPIRED", "The token has expired.");
      throw new UnauthorizedError("TOKEN_INVALID", "The token is invalid.", err);
    }
    await next();
  };
}

/** 401s carry the challenge; the app's error handler keeps headers set on the context. */
export class UnauthorizedError extends AppError {
  readonly challenge: string;
  constructor(code: "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED", detail: string, cause?: unknown) {
    super(code, detail, { cause });
    this.challenge =
      code === "TOKEN_MISSING" ? 'Bearer realm="origin"' : `Bearer realm="origin", error="invalid_token", error_description="${detail}"`;
  }
}
