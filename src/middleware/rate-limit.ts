import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import type { RateWindow, RouteClass } from "../config";
import { rateLimited, serviceUnavailable } from "../errors";
import { errorFields } from "../logger";
import { metrics } from "../metrics";
import { type Bucket, bucketClass, type RateLimitDecision, RateLimitStoreUnavailable } from "../rate-limit/rate-limiter";

type Ctx = Parameters<Parameters<typeof createMiddleware<AppEnv>>[0]>[0];

/**
 * Limits a route class twice: per principal (tenant + subject) and per tenant (a bucket all of the
 * tenant's keys and users share, with the tenant's own limits from its `tenants` row), so minting
 * more keys buys no capacity. Every limited response carries RateLimit-Limit / -Remaining / -Reset
 * of the tighter bucket; a 429 also Retry-After. When the limiter's store is down, the class's
 * configured policy (RATE_LIMIT_FAIL_OPEN) lets the request through or answers 503.
 */

/**
 * A bucket key from parts, escaped so that no two different part lists give the same key (a part
 * cannot contain the separator). Never throws, whatever the text (lone surrogates included).
 */
export const bucketKey = (...parts: string[]) => parts.map((part) => part.replaceAll("%", "%25").replaceAll(":", "%3A")).join(":");

export const principalKey = (c: Ctx) => bucketKey(c.var.principal.tenant, c.var.principal.sub);

export function rateLimit(routeClass: RouteClass) {
  return createMiddleware<AppEnv>(async (c, next) => {
    await chargeRoute(c, routeClass);
    await next();
  });
}

/**
 * Charges `cost` (a batch of n queries: n; an ingest of n documents: n) to the principal's and the
 * tenant's bucket of the class and sets the tighter one's headers; throws 429 when either is spent.
 */
export async function chargeRoute(c: Ctx, routeClass: RouteClass, cost = 1): Promise<void> {
  const { tenant } = c.var.principal;
  const limits = await c.var.services.tenantLimits.get(tenant);
  const [own, shared] = await Promise.all([
    decide(c, routeClass, principalKey(c), cost),
    decide(c, `tenant-${routeClass}`, bucketKey(tenant), cost, limits.rate[routeClass]),
  ]);
  const tighter = own && shared ? ((shared.remaining ?? Infinity) < (own.remaining ?? Infinity) ? shared : own) : (own ?? shared);
  if (tighter) setRateLimitHeaders(c, tighter);
}

/** Applies one limit and returns its decision, or null when the store is down and the class fails open. */
export async function decide(c: Ctx, routeClass: Bucket, key: string, cost = 1, window?: RateWindow): Promise<RateLimitDecision | null> {
  const { services, config } = c.var;
  const policyClass = bucketClass(routeClass);
  let decision: RateLimitDecision;
  try {
    decision = await services.rateLimiter.limit(routeClass, key, cost, window);
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

/**
 * Whether `key` still has tokens in `bucket`, taking none: throws 429 when it has none, null when
 * the store is down and the class fails open. (Login asks this before it verifies a password, and
 * charges only failures.)
 */
export async function peekBucket(c: Ctx, bucket: Bucket, key: string): Promise<RateLimitDecision | null> {
  const { services, config } = c.var;
  let decision: RateLimitDecision;
  try {
    decision = await services.rateLimiter.peek(bucket, key);
  } catch (error) {
    if (!(error instanceof RateLimitStoreUnavailable)) throw error;
    const failOpen = config.RATE_LIMIT_FAIL_OPEN.includes(bucketClass(bucket));
    metrics.rateLimitStoreErrors.inc({ class: bucket, policy: failOpen ? "open" : "closed" });
    if (failOpen) return null;
    throw serviceUnavailable("RATE_LIMITER_UNAVAILABLE", "the rate limiter is unavailable; retry shortly", 5);
  }
  if (!decision.allowed) {
    metrics.rateLimitDecisions.inc({ class: bucket, outcome: "limited" });
    throw rateLimited(Math.max(1, Math.ceil((decision.resetAt - Date.now()) / 1000)), headersFor(decision));
  }
  return decision;
}

/** The client's IP as Cloudflare reports it ("unknown" without the header: local calls, tests). */
export const clientIp = (c: Ctx) => c.req.header("cf-connecting-ip") ?? "unknown";
