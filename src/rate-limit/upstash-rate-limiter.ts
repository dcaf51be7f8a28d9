import type { Config, RateWindow } from "../config";
import { createUpstashRest, type LuaScript, type UpstashRest } from "../redis/upstash-rest";
import { type Bucket, type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/**
 * Sliding windows in Upstash Redis, the algorithm of @upstash/ratelimit's single-region
 * `Ratelimit.slidingWindow` reproduced on our own REST client (src/redis/upstash-rest.ts) so the
 * worker does not ship either library. Limits come from configuration unless a call brings its own
 * (a tenant's row); every bucket has its own key prefix, `edge-rag:rl:<bucket>:`.
 *
 * Same keys and arithmetic as @upstash/ratelimit 2.2 (prefix `edge-rag:rl:<bucket>`, key
 * `<prefix>:<key>:<window number>`, in a Lua script of our own): during a rolling deploy from the
 * library, old and new isolates count in the same counters. The count is the current window's plus
 * the previous window's weighted by how much of it the sliding window still covers (floored). A
 * call is refused when that count is already at the limit, or when its cost would take it past the
 * limit — which, as in the library, still counts the cost (only a full window refuses without
 * counting).
 *
 * Promise: `limit` and `refund` answer within 1 s — one EVALSHA (plus one EVAL the first time Redis
 * lacks the script), or no round trip at all for a key this isolate already saw blocked (the
 * ephemeral cache, until its window ends). Failure modes: any UpstashError (timeout, network,
 * HTTP, a refused script) becomes RateLimitStoreUnavailable, so the route class's fail-open/closed
 * policy decides; one retry after 50 ms on a network failure, within the second.
 */
/**
 * One script for both calls, so a decision reads and counts in one atomic step. KEYS: this fixed
 * window's counter, the previous one's. ARGV: limit, now (ms), window (ms), cost (< 0: a refund).
 * Answers [remaining, limit]; remaining < 0 is a refusal.
 */
const SLIDING_WINDOW_SOURCE = `
local limit, now, size, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
local previous = tonumber(redis.call("GET", KEYS[2]) or "0")
-- The share of the previous fixed window that the sliding window still covers.
local carried = math.floor((1 - (now % size) / size) * previous)
if cost < 0 then
  -- A refund, never below zero; DECRBY keeps the key's expiry, and a missing key stays missing.
  local refunded = math.min(-cost, current)
  if refunded > 0 then current = redis.call("DECRBY", KEYS[1], refunded) end
  return {limit - current - carried, limit}
end
if current + carried >= limit then return {-1, limit} end
local counted = redis.call("INCRBY", KEYS[1], cost)
-- First count in this window: the key outlives the next window, which still reads it.
if counted == cost then redis.call("PEXPIRE", KEYS[1], size * 2 + 1000) end
return {limit - counted - carried, limit}
`;

/** The script and the SHA1 of its text (EVALSHA); test/tools/upstash-rate-limiter.test.ts checks the hash. */
export const SLIDING_WINDOW: LuaScript = { source: SLIDING_WINDOW_SOURCE, sha1: "4f21742e5a96f28170e5818da4bfc7d3a26ab651" };

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `"60 s"` → 60000 (RateWindow's type guarantees the shape; config parsing checked it). */
export function windowMs(window: RateWindow["window"]): number {
  const [amount, unit] = window.split(" ") as [string, keyof typeof UNIT_MS];
  return Math.round(Number(amount) * UNIT_MS[unit]);
}

/** Blocked keys the ephemeral cache remembers at most; past that it starts over (safe to lose). */
const MAX_BLOCKED_KEYS = 10_000;

export function createUpstashRateLimiter(config: Config): RateLimiter {
  return createSlidingWindowRateLimiter({
    redis: createUpstashRest({
      url: config.UPSTASH_REDIS_REST_URL!,
      token: config.UPSTASH_REDIS_REST_TOKEN!,
      // Fail fast: a limiter that waits on a dead Redis is worse than the policy decision.
      timeoutMs: 1_000,
      retries: 1,
      backoffMs: 50,
    }),
    defaults: {
      query: config.RATE_LIMIT_QUERY,
      ingest: config.RATE_LIMIT_INGEST,
      auth: config.RATE_LIMIT_AUTH,
      "tenant-query": config.TENANT_RATE_LIMIT_QUERY,
      "tenant-ingest": config.TENANT_RATE_LIMIT_INGEST,
      "tenant-auth": config.TENANT_RATE_LIMIT_AUTH,
      "login-ip": config.RATE_LIMIT_LOGIN_IP,
      "login-user": config.RATE_LIMIT_AUTH,
      "auth-fail-ip": config.RATE_LIMIT_AUTH_FAILURES_IP,
    },
  });
}

export function createSlidingWindowRateLimiter(options: {
  redis: UpstashRest;
  defaults: Record<Bucket, RateWindow>;
  /** The clock (tests move it across window boundaries). */
  now?: () => number;
}): RateLimiter {
  const { redis, defaults } = options;
  const now = options.now ?? Date.now;
  // Key → epoch ms its window ends, for keys Redis refused. Per bucket and window, as
  // @upstash/ratelimit keeps one per limiter: a tenant's new limit is not blocked by its old one.
  const blocked = new Map<string, number>();

  const locate = (bucket: Bucket, key: string, window: RateWindow) => {
    const size = windowMs(window.window);
    const at = now();
    const current = Math.floor(at / size);
    const identifier = `edge-rag:rl:${bucket}:${key}`;
    return {
      at,
      size,
      keys: [`${identifier}:${current}`, `${identifier}:${current - 1}`],
      resetAt: (current + 1) * size,
      cacheKey: `${window.limit}|${window.window}|${identifier}`,
    };
  };

  const run = async (script: LuaScript, keys: string[], args: number[]) => {
    let result: unknown;
    try {
      result = await redis.evalScript(script, keys, args);
    } catch (error) {
      throw new RateLimitStoreUnavailable(error);
    }
    const [remaining, limit] = Array.isArray(result) ? result : [];
    if (typeof remaining !== "number" || typeof limit !== "number") {
      throw new RateLimitStoreUnavailable(new Error("the rate-limit script answered something other than [remaining, limit]"));
    }
    return { remaining, limit };
  };

  return {
    kind: "upstash",
    async limit(bucket, key, cost = 1, window = defaults[bucket]) {
      const { at, size, keys, resetAt, cacheKey } = locate(bucket, key, window);
      const until = blocked.get(cacheKey);
      if (until !== undefined && cost > 0) {
        // Blocked keys are remembered in the isolate: a flood costs no Redis round trips.
        if (until >= at) return { allowed: false, limit: window.limit, remaining: 0, resetAt: until };
        blocked.delete(cacheKey);
      }
      const { remaining, limit } = await run(SLIDING_WINDOW, keys, [window.limit, at, size, cost]);
      const allowed = remaining >= 0;
      if (!allowed) {
        if (blocked.size >= MAX_BLOCKED_KEYS) blocked.clear();
        blocked.set(cacheKey, resetAt);
      }
      return { allowed, limit, remaining: Math.max(0, remaining), resetAt };
    },
    async refund(bucket, key, cost = 1, window = defaults[bucket]) {
      const { at, size, keys } = locate(bucket, key, window);
      await run(SLIDING_WINDOW, keys, [window.limit, at, size, -cost]);
    },
  };
}
