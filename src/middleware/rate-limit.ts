import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import type { RouteClass } from "../config";
import { rateLimited, serviceUnavailable } from "../errors";
import { errorFields } from "../logger";
import { metrics } from "../metrics";
import { type RateLimitDecision, RateLimitStoreUnavailable } from "../rate-limit/rate-limiter";

type Ctx = Parameters<Parameters<typeof createMiddleware<AppEnv>>[0]>[0];

/**
 * Limits a route class per key (by default the tenant + principal). Every limited response carries
 * RateLimit-Limit / -Remaining / -Reset; a 429 also Retry-After. When the limiter's store is down,
 * the class's configured policy (RATE_LIMIT_FAIL_OPEN) lets the request through or answers 503.
 */
export const principalKey = (c: Ctx) => `${c.var.principal.tenant}:${c.var.principal.sub}`;

export function rateLimit(routeClass: RouteClass, keyOf: (c: Ctx) => string = principalKey) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const decision = await decide(c, routeClass, keyOf(c));
    if (decision) setRateLimitHeaders(c, decision);
    await next();
  });
}

/** Applies one limit and returns its decision, or null when the store is down and the class fails open. */
export async function decide(c: Ctx, routeClass: RouteClass | "login-ip", key: string, cost = 1): Promise<RateLimitDecision | null> {
  const { services, config } = c.var;
  const policyClass: RouteClass = routeClass === "login-ip" ? "auth" : routeClass;
  let decision: RateLimitDecision;
  try {
    decision = await services.rateLimiter.limit(routeClass, key, cost);
  } catch (error) {
    if (!(error instanceof RateLimitStoreUnavailable)) throw error;
    const failOpen = config.RATE_LIMIT_FAIL_OPEN.includes(policyClass);
    metrics.rateLimitStoreErrors.inc({ class: routeClass, policy: failOpen ? "open" : "closed" });
    c.set("rateLimitStore", failOpen ? "fail-open" : "fail-closed");
    c.var.log.warn("rate-limit store unavailable", {
      class: routeClass,
      policy: failOpen ? "fail-open" : "fail-closed",
      ...errorFields(error),
    });
    if (failOpen) return null;
    throw serviceUnavailable("RATE_LIMITER_UNAVAILABLE", "the rate limiter is unavailable; retry shortly", 5);
  }
  if (decision.pending) c.executionCtx.waitUntil(decision.pending.catch(() => {}));
  metrics.rateLimitDecisions.inc({ class: routeClass, outcome: decision.allowed ? "allowed" : "limited" });
  if (!decision.allowed) {
    const retryAfter = Math.max(1, Math.ceil((decision.resetAt - Date.now()) / 1000));
    throw rateLimited(retryAfter, headersFor(decision));
  }
  return decision;
}

function headersFor(decision: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    "ratelimit-limit": String(decision.limit),
    "ratelimit-reset": String(Math.max(0, Math.ceil((decision.resetAt - Date.now()) / 1000))),
  };
  // The Workers binding does not report what is left; say nothing rather than guess.
  const remaining = decision.allowed ? decision.remaining : 0;
  if (remaining !== null) headers["ratelimit-remaining"] = String(remaining);
  return headers;
}

export function setRateLimitHeaders(c: Ctx, decision: RateLimitDecision): void {
  for (const [name, value] of Object.entries(headersFor(decision))) c.header(name, value);
}
