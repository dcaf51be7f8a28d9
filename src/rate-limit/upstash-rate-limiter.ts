import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis/cloudflare";
import type { Config, RateWindow } from "../config";
import { type Bucket, type RateLimitDecision, type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/**
 * Sliding windows in Upstash Redis: one limiter per bucket and window (built on first use, kept
 * for the isolate), limits from configuration unless a call brings its own (a tenant's row).
 * Every bucket has its own key prefix, `edge-rag:rl:<bucket>:`.
 */
export function createUpstashRateLimiter(config: Config): RateLimiter {
  const redis = new Redis({
    url: config.UPSTASH_REDIS_REST_URL!,
    token: config.UPSTASH_REDIS_REST_TOKEN!,
    // Fail fast: a limiter that waits on a dead Redis is worse than the policy decision.
    retry: { retries: 1, backoff: () => 50 },
    enableTelemetry: false,
    // Auto-pipelining batches concurrent requests' commands into one fetch made by one of them: the
    // others would await another request's I/O, which Workers forbid.
    enableAutoPipelining: false,
  });
  const defaults: Record<Bucket, RateWindow> = {
    query: config.RATE_LIMIT_QUERY,
    ingest: config.RATE_LIMIT_INGEST,
    auth: config.RATE_LIMIT_AUTH,
    "tenant-query": config.TENANT_RATE_LIMIT_QUERY,
    "tenant-ingest": config.TENANT_RATE_LIMIT_INGEST,
    "tenant-auth": config.TENANT_RATE_LIMIT_AUTH,
    "login-ip": config.RATE_LIMIT_LOGIN_IP,
    "login-user": config.RATE_LIMIT_AUTH,
    "auth-fail-ip": config.RATE_LIMIT_AUTH_FAILURES_IP,
  };
  // Safe to lose: a limiter is only its window and prefix; the counts live in Redis.
  const limiters = new Map<string, Ratelimit>();
  const limiterFor = (bucket: Bucket, window: RateWindow) => {
    const id = `${bucket}|${window.limit}|${window.window}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = new Ratelimit({
        redis,
        limiter: Ratelimit.slidingWindow(window.limit, window.window),
        prefix: `edge-rag:rl:${bucket}`,
        // Blocked keys are remembered in the isolate: a flood costs no Redis round trips.
        ephemeralCache: new Map(),
        analytics: false,
        // On timeout the library lets the request through with reason "timeout"; we turn that
        // into the store-unavailable path so the per-class policy decides instead.
        timeout: 1_000,
      });
      if (limiters.size > 1000) limiters.clear();
      limiters.set(id, limiter);
    }
    return limiter;
  };

  return {
    kind: "upstash",
    async limit(bucket, key, cost = 1, window = defaults[bucket]) {
      let result: Awaited<ReturnType<Ratelimit["limit"]>>;
      try {
        result = await limiterFor(bucket, window).limit(key, { rate: cost });
      } catch (error) {
        throw new RateLimitStoreUnavailable(error);
      }
      if (result.reason === "timeout") throw new RateLimitStoreUnavailable(new Error("timeout"));
      return {
        allowed: result.success,
        limit: result.limit,
        remaining: Math.max(0, result.remaining),
        resetAt: result.reset,
        pending: result.pending,
      };
    },
    async peek(bucket, key, window = defaults[bucket]): Promise<RateLimitDecision> {
      try {
        const { remaining, reset, limit } = await limiterFor(bucket, window).getRemaining(key);
        return { allowed: remaining > 0, limit, remaining: Math.max(0, remaining), resetAt: reset };
      } catch (error) {
        throw new RateLimitStoreUnavailable(error);
      }
    },
  };
}
