import { createHash, randomUUID } from "node:crypto";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
import { describe, expect, it } from "vitest";
import type { RateWindow } from "../../src/config";
import { type Bucket, type RateLimiter, RateLimitStoreUnavailable } from "../../src/rate-limit/rate-limiter";
import { createSlidingWindowRateLimiter, SLIDING_WINDOW } from "../../src/rate-limit/upstash-rate-limiter";
import { createUpstashRest, type UpstashRest } from "../../src/redis/upstash-rest";
import { startBadServer, useUpstashTarget } from "./upstash-target";

// The worker's sliding-window limiter (src/rate-limit/upstash-rate-limiter.ts) against the Upstash
// REST protocol (the local bridge, or a real database: upstash-target.ts), with its clock in the
// test's hand so that window boundaries fall where the test puts them.

const upstash = useUpstashTarget();

const WINDOW_MS = 10_000;
const FIVE: RateWindow = { limit: 5, window: "10 s" };
const defaults = Object.fromEntries(
  ["query", "ingest", "auth", "tenant-query", "tenant-ingest", "tenant-auth", "login-ip", "login-user", "auth-fail-ip"].map((bucket) => [
    bucket,
    FIVE,
  ]),
) as Record<Bucket, RateWindow>;

/** A limiter on a clock the test sets, starting at the beginning of a window; counts its script calls. */
function limiterAt(options: { client?: UpstashRest } = {}) {
  const client = options.client ?? upstash.redis;
  const clock = { now: Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS, scripts: 0 };
  const counting: UpstashRest = {
    ...client,
    evalScript: (...args) => {
      clock.scripts += 1;
      return client.evalScript(...args);
    },
  };
  const limiter: RateLimiter = createSlidingWindowRateLimiter({ redis: counting, defaults, now: () => clock.now });
  return { limiter, clock };
}

const id = () => `user-${randomUUID()}`;

async function take(limiter: RateLimiter, key: string, times: number, cost = 1) {
  const decisions = [];
  for (let i = 0; i < times; i++) decisions.push(await limiter.limit("query", key, cost));
  return decisions;
}

describe("happy: sliding window", () => {
  it("allows the limit, counts remaining down, refuses the rest until the window ends", async () => {
    const { limiter, clock } = limiterAt();
    const key = id();
    const decisions = await take(limiter, key, 6);
    expect(decisions.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 4],
      [true, 3],
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    for (const decision of decisions) expect(decision).toMatchObject({ limit: 5, resetAt: clock.now + WINDOW_MS });
  });

  it("across the window boundary the previous window counts by how much of it the sliding window still covers", async () => {
    const { limiter, clock } = limiterAt();
    const key = id();
    await take(limiter, key, 5);
    // A quarter into the next window: three quarters of the previous 5 is 3 (floored), so 2 are left.
    clock.now += WINDOW_MS + 2_500;
    expect((await take(limiter, key, 3)).map((d) => d.allowed)).toEqual([true, true, false]);
    // Three quarters in, asked by another isolate (this one remembers the refusal until the window
    // ends): a quarter of 5 is 1, plus this window's 2 and this call: 1 left.
    clock.now += 5_000;
    const another = createSlidingWindowRateLimiter({ redis: upstash.redis, defaults, now: () => clock.now });
    expect(await another.limit("query", key)).toMatchObject({ allowed: true, remaining: 1 });
    // Halfway into the window after: half of the previous window's 3 is 1, plus this call: 3 left, until that window ends.
    clock.now += 7_500;
    expect(await limiter.limit("query", key)).toEqual({ allowed: true, limit: 5, remaining: 3, resetAt: clock.now + 5_000 });
  });

  it("a call costs its cost; one that would overdraw is refused (and, like @upstash/ratelimit, counted unless the window was full)", async () => {
    const { limiter } = limiterAt();
    const key = id();
    const window = { limit: 10, window: "10 s" } as const;
    expect(await limiter.limit("query", key, 4, window)).toMatchObject({ allowed: true, remaining: 6, limit: 10 });
    expect(await limiter.limit("query", key, 4, window)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await limiter.limit("query", key, 4, window)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await limiter.limit("query", key, 1, window)).toMatchObject({ allowed: false, remaining: 0 });
    // Another key with 2 left takes exactly 2.
    const other = id();
    await limiter.limit("query", other, 8, window);
    expect(await limiter.limit("query", other, 2, window)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("refund gives back what limit took in this window, never below zero, keeping the window's expiry", async () => {
    const { limiter, clock } = limiterAt();
    const key = id();
    await take(limiter, key, 3);
    await limiter.refund("query", key, 2);
    expect((await take(limiter, key, 1))[0]).toMatchObject({ allowed: true, remaining: 3 });
    await limiter.refund("query", key, 10);
    expect((await take(limiter, key, 1))[0]).toMatchObject({ allowed: true, remaining: 4 });
    const counter = `edge-rag:rl:query:${key}:${clock.now / WINDOW_MS}`;
    const expiry = Number(await upstash.redis.command(["PTTL", counter]));
    expect(expiry).toBeGreaterThan(0);
    // A key with nothing counted stays absent: no counter without an expiry is left behind.
    const untouched = id();
    await limiter.refund("query", untouched);
    expect(await upstash.redis.command(["EXISTS", `edge-rag:rl:query:${untouched}:${clock.now / WINDOW_MS}`])).toBe(0);
  });

  it("a refused key is answered from the isolate until its window ends, without a Redis round trip", async () => {
    const { limiter, clock } = limiterAt();
    const key = id();
    await take(limiter, key, 6);
    expect(clock.scripts).toBe(6);
    clock.now += WINDOW_MS - 1;
    expect(await limiter.limit("query", key)).toEqual({ allowed: false, limit: 5, remaining: 0, resetAt: clock.now + 1 });
    expect(clock.scripts).toBe(6);
    // Another bucket, or another limit for the same key, is not that refusal.
    expect((await limiter.limit("auth", key)).allowed).toBe(true);
    expect((await limiter.limit("query", key, 1, { limit: 50, window: "10 s" })).allowed).toBe(true);
    expect(clock.scripts).toBe(8);
    // Its window over, Redis decides again: three quarters of the previous window's 6 (the 50-limit
    // call counted in the same counter) floors to 4, so this 1 is the last.
    clock.now += 2_501;
    expect(await limiter.limit("query", key)).toMatchObject({ allowed: true, remaining: 0 });
    expect(clock.scripts).toBe(9);
  });

  it("buckets and keys never share a counter", async () => {
    const { limiter } = limiterAt();
    const key = id();
    await take(limiter, key, 5);
    expect((await limiter.limit("tenant-query", key)).remaining).toBe(4);
    expect((await limiter.limit("query", `${key}:x`)).remaining).toBe(4);
    expect((await limiter.limit("query", key.slice(0, -1))).remaining).toBe(4);
  });
});

describe("happy: the same counters as @upstash/ratelimit (a rolling deploy keeps counts)", () => {
  it("the script's hash (what EVALSHA sends) is the SHA1 of its text", () => {
    expect(createHash("sha1").update(SLIDING_WINDOW.source).digest("hex")).toBe(SLIDING_WINDOW.sha1);
  });

  it("what one counts, the other sees", async () => {
    // A window so long that no boundary falls inside the test: both read the real clock.
    const window = { limit: 5, window: "1000 d" } as const;
    const official = new Ratelimit({
      redis: new Redis({ url: upstash.target.url, token: upstash.target.token, enableTelemetry: false }),
      limiter: Ratelimit.slidingWindow(window.limit, window.window),
      prefix: "edge-rag:rl:query",
      analytics: false,
    });
    const ours = createSlidingWindowRateLimiter({ redis: upstash.redis, defaults });
    const key = id();
    expect((await official.limit(key, { rate: 2 })).remaining).toBe(3);
    expect(await ours.limit("query", key, 1, window)).toMatchObject({ allowed: true, remaining: 2 });
    expect((await official.getRemaining(key)).remaining).toBe(2);
    const [theirs, mine] = [await official.limit(key), await ours.limit("query", key, 1, window)];
    expect([theirs.remaining, mine.remaining, mine.resetAt]).toEqual([1, 0, theirs.reset]);
  });
});

describe("error: the store unreachable is RateLimitStoreUnavailable", () => {
  it.each(["reset", "hang"] as const)("a server that %ss: limit and refund both throw it", async (mode) => {
    const server = await startBadServer(mode);
    try {
      const client = createUpstashRest({ url: server.url, token: "t", timeoutMs: 300, retries: 1, backoffMs: 10 });
      const { limiter } = limiterAt({ client });
      await expect(limiter.limit("query", id())).rejects.toBeInstanceOf(RateLimitStoreUnavailable);
      await expect(limiter.refund("query", id())).rejects.toBeInstanceOf(RateLimitStoreUnavailable);
    } finally {
      await server.close();
    }
  });

  it("a wrong token is RateLimitStoreUnavailable too, and no refusal is remembered", async () => {
    const client = createUpstashRest({ url: upstash.target.url, token: "wrong", timeoutMs: 5_000 });
    const { limiter } = limiterAt({ client });
    const key = id();
    for (let i = 0; i < 2; i++) await expect(limiter.limit("query", key)).rejects.toBeInstanceOf(RateLimitStoreUnavailable);
  });
});
