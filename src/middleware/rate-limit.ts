import { createMiddleware } from "hono/factory";
import { expandIPv6 } from "hono/utils/ipaddr";
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
  const limits = await c.var.services.tenantLimits.get(tenant, (work) => c.executionCtx.waitUntil(work));
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
 * Gives back a token that `decide` took (login, after a successful one), after the response. It
 * only loosens a limit, so a failure is logged and the answer stays what it was.
 */
export function refundBucket(c: Ctx, bucket: Bucket, key: string, window?: RateWindow): void {
  const refunded = c.var.services.rateLimiter.refund(bucket, key, 1, window).catch((error) => {
    c.var.log.warn("rate-limit refund failed", { class: bucket, ...errorFields(error) });
  });
  c.executionCtx.waitUntil(refunded);
}

/** The client's IP as Cloudflare reports it ("unknown" without the header: local calls, tests). */
export const clientIp = (c: Ctx) => c.req.header("cf-connecting-ip") ?? "unknown";

/** The client's network, what per-client limits count: see `networkOf`. */
export const clientNetwork = (c: Ctx) => networkOf(clientIp(c));

const EXPANDED_IPV6 = /^(?:[0-9a-f]{4}:){7}[0-9a-f]{4}$/;

/**
 * An IPv4 address as it is; an IPv6 address as its /64 (an IPv4-mapped one as that IPv4). One
 * subscriber is routed a /64 or more, so counting per IPv6 address would give an attacker 2^64
 * fresh buckets. Anything that does not parse is its own key.
 */
export function networkOf(ip: string): string {
  if (!ip.includes(":")) return ip;
  const groups = expandIPv6(ip.toLowerCase());
  if (!EXPANDED_IPV6.test(groups)) return ip;
  if (groups.startsWith("0000:0000:0000:0000:0000:ffff:")) {
    const [high, low] = groups
      .split(":")
      .slice(6)
      .map((group) => Number.parseInt(group, 16)) as [number, number];
    return [high >> 8, high & 255, low >> 8, low & 255].join(".");
  }
  const prefix = groups.split(":").slice(0, 4);
  return `${prefix.map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
