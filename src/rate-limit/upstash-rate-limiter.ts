import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis/cloudflare";
import type { Config, RateWindow } from "../config";
import { upstashFailure } from "../redis/upstash-redis";
import { type Bucket, bucketClass, type RateLimitDecision, type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/**
 * Sliding windows in Upstash Redis with @upstash/ratelimit (`Ratelimit.slidingWindow`, its Lua
 * scripts with their `#!lua flags=allow-key-locking` line, so a call locks only its own keys),
 * decided in the colo where the route class allows it.
 *
 * Two ways to decide, by the route class's policy when the store is down (RATE_LIMIT_FAIL_OPEN):
 * - A class that fails closed (by default ingest and auth, login's refund included) always waits
 *   for Upstash: its limits never rest on an estimate.
 * - A class that fails open (by default query) is decided in the isolate once it knows the key:
 *   each answer from Upstash leaves the key's remaining tokens here; a call the estimate covers is
 *   allowed at once and counted in Upstash after the response, whose answer refreshes the
 *   estimate (or, if Upstash refused, blocks the key in the library's ephemeral cache until its
 *   window ends). A key's counts go one call at a time, at most one per GATHER_MS, each carrying
 *   what was allowed since the last: the call that finds none in flight sends them (`pending`, for its
 *   waitUntil) for up to COUNTING_MS, and a call that finds one in flight leaves its tokens to it
 *   and has nothing pending. No promise passes from one request to another: workerd never lets a
 *   request wait on another's I/O ("Promise will never complete"). A key this isolate has not seen
 *   within one window, or whose estimate cannot cover the cost, waits for Upstash as above.
 * Accuracy: within one isolate a limit holds exactly. Isolates do not share estimates, so a burst
 * that reaches n isolates (in one colo or many) before their counts land can be allowed up to
 * n × the remaining tokens each last saw: at worst n × the limit in one window. The counts are all
 * kept, so once they land every isolate refuses until the window frees room.
 *
 * Limits come from configuration unless a call brings its own (a tenant's row); every bucket has
 * its own key prefix, `edge-rag:rl:<bucket>`, the keys the copy of this library used before.
 * Promise: a decision within ~1 s; none of the isolate-decided ones wait for any I/O. Failure
 * modes: any error of the Redis client (timeout, network, HTTP, a refused script) is
 * RateLimitStoreUnavailable when the caller waits, so the class's policy decides; a failed count
 * after the response forgets the key's estimate, so the next call waits and meets that policy.
 */

/** Limiters (one per bucket and window) and estimates an isolate keeps at most; safe to lose. */
const MAX_ENTRIES = 10_000;

/**
 * How long one request goes on sending a key's counts: well inside waitUntil's 30 s, so its last
 * call ends while the request lives. Tokens left then go with the next call on the key.
 */
const COUNTING_MS = 5_000;
/**
 * A key's counts start at most this often: after the first, each waits for the tokens allowed
 * meanwhile, so a key in steady use costs at most 1000 / GATHER_MS Upstash calls a second per
 * isolate, not one per hit; such a count lands up to that much later for other isolates.
 */
const GATHER_MS = 50;
/** A count in flight longer than this died with its request (cancelled): the next call starts over. */
const COUNTING_DEAD_MS = 35_000;

/** A Map that starts over when full: the library's ephemeral cache of blocked keys grows otherwise. */
class BoundedMap<K, V> extends Map<K, V> {
  override set(key: K, value: V): this {
    if (this.size >= MAX_ENTRIES && !this.has(key)) this.clear();
    return super.set(key, value);
  }
}

/** What this isolate knows of a key: tokens left as Upstash last said, less what it allowed since. */
interface Estimate {
  remaining: number;
  /** Tokens allowed here whose count Upstash has not answered yet (sent or not). */
  uncounted: number;
  /** Of those, the tokens not sent yet: they go in the next count, after the one in flight. */
  unsent: number;
  /** Epoch ms when the request sending this key's counts began (0: none is). */
  countingSince: number;
  limit: number;
  resetAt: number;
  /** Epoch ms of Upstash's last answer for the key. */
  refreshedAt: number;
}

export interface UpstashRateLimiterOptions {
  redis: Redis;
  defaults: Record<Bucket, RateWindow>;
  /** Buckets whose class may be decided in the isolate (those that fail open). */
  decidedInIsolate: (bucket: Bucket) => boolean;
  /** Named in no error the limiter raises (the token, the URL's credentials). */
  secrets?: readonly string[];
}

export function createUpstashRateLimiter(config: Config, redis: Redis): RateLimiter {
  const { username, password } = new URL(config.UPSTASH_REDIS_REST_URL!);
  return createSlidingWindowRateLimiter({
    redis,
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
    decidedInIsolate: (bucket) => config.RATE_LIMIT_FAIL_OPEN.includes(bucketClass(bucket)),
    secrets: [config.UPSTASH_REDIS_REST_TOKEN!, username, password],
  });
}

export function createSlidingWindowRateLimiter(options: UpstashRateLimiterOptions): RateLimiter {
  const { redis, defaults, decidedInIsolate, secrets = [] } = options;
  const limiters = new BoundedMap<string, Ratelimit>();
  const estimates = new BoundedMap<string, Estimate>();

  const limiterFor = (bucket: Bucket, window: RateWindow) => {
    const id = `${bucket}|${window.limit}|${window.window}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = new Ratelimit({
        redis,
        limiter: Ratelimit.slidingWindow(window.limit, window.window),
        prefix: `edge-rag:rl:${bucket}`,
        // Blocked keys are remembered in the isolate until their window ends: a flood costs no
        // round trips. One per limiter, so a tenant's new limit is not blocked by its old one.
        ephemeralCache: new BoundedMap(),
        analytics: false,
        // The client's own deadline fails the call; the library's would let it through as "timeout".
        timeout: 0,
      });
      limiters.set(id, limiter);
    }
    return { id, limiter, windowMs: windowMs(window.window) };
  };

  /** Upstash's answer for `cost` tokens (negative: a refund), as a decision. */
  const ask = async (limiter: Ratelimit, key: string, cost: number): Promise<RateLimitDecision> => {
    try {
      const result = await limiter.limit(key, { rate: cost });
      return { allowed: result.success, limit: result.limit, remaining: Math.max(0, result.remaining), resetAt: result.reset };
    } catch (error) {
      throw new RateLimitStoreUnavailable(upstashFailure(error, secrets));
    }
  };

  /** Takes Upstash's answer into the key's estimate, less what was allowed here and not yet counted. */
  const remember = (id: string, decision: RateLimitDecision) => {
    const known = estimates.get(id) ?? { remaining: 0, uncounted: 0, unsent: 0, countingSince: 0, limit: 0, resetAt: 0, refreshedAt: 0 };
    known.remaining = decision.allowed ? decision.remaining! - known.uncounted : 0;
    known.limit = decision.limit;
    known.resetAt = decision.resetAt;
    known.refreshedAt = Date.now();
    estimates.set(id, known);
  };

  /**
   * Counts at Upstash what the isolate allowed for a key: one call at a time per key, the first at
   * once, each later one GATHER_MS after the last began (or once it is answered, if later), carrying
   * every token allowed since the last left; it stops once a gather brings none, or after COUNTING_MS.
   */
  const countAll = async (id: string, known: Estimate, limiter: Ratelimit, key: string): Promise<void> => {
    const since = Date.now();
    known.countingSince = since;
    try {
      for (let last = 0; Date.now() - since < COUNTING_MS; ) {
        // The first count goes at once; each later one waits out the gather since the last began.
        if (last > 0) await new Promise((resolve) => setTimeout(resolve, Math.max(0, last + GATHER_MS - Date.now())));
        if (known.unsent === 0) break;
        last = Date.now();
        const tokens = known.unsent;
        known.unsent = 0;
        let decision: RateLimitDecision;
        try {
          decision = await ask(limiter, key, tokens);
        } catch {
          // The store is down (or refused the call): the next call waits and meets the class's policy.
          if (estimates.get(id) === known) estimates.delete(id);
          return;
        } finally {
          known.uncounted -= tokens;
        }
        if (estimates.get(id) === known) remember(id, decision);
      }
    } finally {
      if (known.countingSince === since) known.countingSince = 0;
    }
  };

  return {
    kind: "upstash",
    async limit(bucket, key, cost = 1, window = defaults[bucket]) {
      const { id: limiterId, limiter, windowMs: size } = limiterFor(bucket, window);
      const id = `${limiterId}|${key}`;
      const inIsolate = decidedInIsolate(bucket);
      const known = inIsolate ? estimates.get(id) : undefined;
      if (known && known.remaining >= cost && Date.now() - known.refreshedAt < size) {
        known.remaining -= cost;
        known.uncounted += cost;
        known.unsent += cost;
        const counting = known.countingSince > 0 && Date.now() - known.countingSince < COUNTING_DEAD_MS;
        const pending = counting ? undefined : countAll(id, known, limiter, key);
        return { allowed: true, limit: known.limit, remaining: known.remaining, resetAt: known.resetAt, pending };
      }
      // Counts allowed here and still on their way may land after this call: its answer may be
      // short of them, so they are taken off it (twice, at worst, for those that landed first).
      const uncounted = known?.uncounted ?? 0;
      const decision = await ask(limiter, key, cost);
      if (!inIsolate) return decision;
      remember(id, decision);
      if (decision.allowed && decision.remaining! < uncounted) return { ...decision, allowed: false, remaining: 0 };
      return { ...decision, remaining: Math.max(0, decision.remaining! - uncounted) };
    },
    async refund(bucket, key, cost = 1, window = defaults[bucket]) {
      const { id: limiterId, limiter } = limiterFor(bucket, window);
      await ask(limiter, key, -cost);
      const known = estimates.get(`${limiterId}|${key}`);
      if (known) known.remaining = Math.min(known.limit, known.remaining + cost);
    },
  };
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `"60 s"` → 60000 (RateWindow's type guarantees the shape; config parsing checked it). */
export function windowMs(window: RateWindow["window"]): number {
  const [amount, unit] = window.split(" ") as [string, keyof typeof UNIT_MS];
  return Math.round(Number(amount) * UNIT_MS[unit]);
}
