import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config";
import { type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/** Sliding windows in Upstash Redis, one limiter per route class, limits from configuration. */
export function createUpstashRateLimiter(config: Config): RateLimiter {
  const redis = new Redis({
    url: config.UPSTASH_REDIS_REST_URL!,
    token: config.UPSTASH_REDIS_REST_TOKEN!,
    // Fail fast: a limiter that waits on a dead Redis is worse than the policy decision.
    retry: { retries: 1, backoff: () => 50 },
    enableTelemetry: false,
  });
  const windows = {
    query: config.RATE_LIMIT_QUERY,
    ingest: config.RATE_LIMIT_INGEST,
    auth: config.RATE_LIMIT_AUTH,
    "login-ip": config.RATE_LIMIT_LOGIN_IP,
  };
  const limiters = Object.fromEntries(
    Object.entries(windows).map(([name, { limit, window }]) => [
      name,
      new Ratelimit({
        redis,
        limiter: Ratelimit.slidingWindow(limit, window),
        prefix: `edge-rag:rl:${name}`,
        // Blocked keys are remembered in the isolate: a flood costs no Redis round trips.
        ephemeralCache: new Map(),
        analytics: false,
        // On timeout the library lets the request through with reason "timeout"; we turn that
        // into the store-unavailable path so the per-class policy decides instead.
        timeout: 1_000,
      }),
    ]),
  ) as Record<keyof typeof windows, Ratelimit>;

  return {
    kind: "upstash",
    async limit(routeClass, key, cost = 1) {
      let result: Awaited<ReturnType<Ratelimit["limit"]>>;
      try {
        result = await limiters[routeClass].limit(key, { rate: cost });
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
  };
}
