import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { RateWindow } from "../../src/config";
import { type Bucket, bucketClass, type RateLimiter, RateLimitStoreUnavailable } from "../../src/rate-limit/rate-limiter";
import { createSlidingWindowRateLimiter } from "../../src/rate-limit/upstash-rate-limiter";
import { createUpstashRedis, type UpstashTransport } from "../../src/redis/upstash-redis";
import { startBridgeFixture } from "./upstash-bridge-fixture";
import { startBadServer, useUpstashTarget } from "./upstash-target";

// The worker's rate limiter (src/rate-limit/upstash-rate-limiter.ts: @upstash/ratelimit on
// @upstash/redis) against the Upstash REST protocol: the local bridge in front of a real
// redis-server, or a real Upstash database (upstash-target.ts). Windows are so long that no window
// boundary falls inside a test, so the counts are exact.

const upstash = useUpstashTarget();

const LONG: RateWindow = { limit: 5, window: "1000 d" };
const BUCKETS: Bucket[] = [
  "query",
  "ingest",
  "auth",
  "tenant-query",
  "tenant-ingest",
  "tenant-auth",
  "login-ip",
  "login-user",
  "auth-fail-ip",
];
const defaults = Object.fromEntries(BUCKETS.map((bucket) => [bucket, LONG])) as Record<Bucket, RateWindow>;

/**
 * Round trips to Upstash as the transport sees them: `held` makes every new one wait until
 * `release()` (so a test can tell whether a decision waited on one), `failing` fails them.
 */
function transportProbe() {
  const probe = {
    requests: 0,
    held: false,
    failing: false,
    waiting: [] as Array<() => void>,
    release() {
      probe.held = false;
      for (const go of probe.waiting.splice(0)) go();
    },
    wrap: (inner: UpstashTransport): UpstashTransport => ({
      ...inner,
      request: async (request) => {
        probe.requests += 1;
        if (probe.held) await new Promise<void>((resolve) => probe.waiting.push(resolve));
        if (probe.failing) throw new TypeError("fetch failed");
        return inner.request(request);
      },
    }),
  };
  return probe;
}

/** The worker's limiter on the target; query (and its tenant bucket) decided in the isolate, as by default. */
function limiterOn(options: { url?: string; token?: string; timeoutMs?: number } = {}) {
  const probe = transportProbe();
  const redis = createUpstashRedis({
    url: options.url ?? upstash.target.url,
    token: options.token ?? upstash.target.token,
    timeoutMs: options.timeoutMs ?? 5_000,
    retries: 0,
    wrapTransport: probe.wrap,
  });
  const limiter: RateLimiter = createSlidingWindowRateLimiter({
    redis,
    defaults,
    decidedInIsolate: (bucket) => bucketClass(bucket) === "query",
    secrets: [options.token ?? upstash.target.token],
  });
  return { limiter, probe };
}

const id = () => `user-${randomUUID()}`;

async function take(limiter: RateLimiter, bucket: Bucket, key: string, times: number, cost = 1) {
  const decisions = [];
  for (let i = 0; i < times; i++) {
    const decision = await limiter.limit(bucket, key, cost);
    await decision.pending;
    decisions.push(decision);
  }
  return decisions;
}

/** Resolves once a count is held (a key's first count waits out the limiter's gather first). */
async function untilWaiting(probe: { waiting: unknown[] }): Promise<void> {
  while (probe.waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** True once the promise has settled, after everything already queued ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe.each(["query", "auth"] as const)("happy: the %s class's limits", (routeClass) => {
  it("allows the limit, counts remaining down, refuses the rest", async () => {
    const { limiter } = limiterOn();
    const decisions = await take(limiter, routeClass, id(), 6);
    expect(decisions.map((d) => [d.allowed, d.remaining, d.limit])).toEqual([
      [true, 4, 5],
      [true, 3, 5],
      [true, 2, 5],
      [true, 1, 5],
      [true, 0, 5],
      [false, 0, 5],
    ]);
  });

  it("per principal and per tenant: buckets and keys never share a counter", async () => {
    const { limiter } = limiterOn();
    const key = id();
    await take(limiter, routeClass, key, 5);
    expect((await limiter.limit(`tenant-${routeClass}`, key)).remaining).toBe(4);
    expect((await limiter.limit(routeClass, `${key}:x`)).remaining).toBe(4);
    expect((await limiter.limit(routeClass, key)).allowed).toBe(false);
    // Another isolate counts in the same counters.
    expect((await limiterOn().limiter.limit(routeClass, key)).allowed).toBe(false);
  });

  it("a call costs its cost; one the remaining tokens cannot cover is refused", async () => {
    const { limiter } = limiterOn();
    const key = id();
    expect((await take(limiter, routeClass, key, 2, 2)).map((d) => d.remaining)).toEqual([3, 1]);
    expect((await limiter.limit(routeClass, key, 2)).allowed).toBe(false);
  });

  it("refund gives back what limit took", async () => {
    const { limiter } = limiterOn();
    const key = id();
    await take(limiter, routeClass, key, 5);
    await limiter.refund(routeClass, key, 2);
    expect((await take(limiter, routeClass, key, 3)).map((d) => d.allowed)).toEqual([true, true, false]);
  });
});

describe("happy: a class that fails open is decided in the colo", () => {
  it("within its limits, a known key's answer waits on no round trip; the count follows after the response", async () => {
    const { limiter, probe } = limiterOn();
    const key = id();
    await take(limiter, "query", key, 1);
    probe.held = true;
    const decision = await limiter.limit("query", key);
    expect(decision).toMatchObject({ allowed: true, remaining: 3, limit: 5 });
    // Its count is on the way (after the gather), held, and only `pending` (waitUntil) waits for it.
    await untilWaiting(probe);
    expect(probe.waiting).toHaveLength(1);
    expect(await settled(decision.pending!)).toBe(false);
    probe.release();
    await decision.pending;
    expect(await limiterOn().limiter.limit("auth", key)).toMatchObject({ remaining: 4 });
    expect(await limiterOn().limiter.limit("query", key)).toMatchObject({ remaining: 2 });
  });

  it("a burst on one key costs one count per gather (or round trip), and every token is counted", async () => {
    const { limiter, probe } = limiterOn();
    const key = id();
    await take(limiter, "query", key, 1);
    const before = probe.requests;
    probe.held = true;
    const burst = [];
    for (let i = 0; i < 3; i++) burst.push(await limiter.limit("query", key));
    expect(burst.map((d) => d.remaining)).toEqual([3, 2, 1]);
    // The first count went at once and is held; the next two wait for it.
    await untilWaiting(probe);
    expect(probe.requests - before).toBe(1);
    // Only the call that sends has anything pending: in workerd a request's waitUntil cannot wait
    // on a promise another request's I/O settles ("Promise will never complete").
    expect(burst.map((d) => d.pending !== undefined)).toEqual([true, false, false]);
    // Once it is answered and the gather has passed, they go as one.
    probe.release();
    await burst[0]!.pending;
    expect(probe.requests - before).toBe(2);
    // Upstash holds all four: a fifth token is the last.
    expect(await limiterOn().limiter.limit("query", key)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("never allows past the limit in one isolate, even before its counts land", async () => {
    const { limiter, probe } = limiterOn();
    const key = id();
    await take(limiter, "query", key, 1);
    probe.held = true;
    const allowed = [];
    for (let i = 0; i < 4; i++) allowed.push(await limiter.limit("query", key));
    expect(allowed.map((d) => d.remaining)).toEqual([3, 2, 1, 0]);
    // The estimate is spent: the next call waits for Upstash, which has not seen the 4 yet.
    const next = limiter.limit("query", key);
    expect(await settled(next)).toBe(false);
    probe.release();
    expect(await next).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("a refusal is answered in the isolate until its window ends, without a round trip", async () => {
    const { limiter, probe } = limiterOn();
    const key = id();
    await take(limiter, "query", key, 6);
    const before = probe.requests;
    probe.held = true;
    expect(await limiter.limit("query", key)).toMatchObject({ allowed: false, remaining: 0 });
    expect(probe.requests).toBe(before);
  });

  it("what other isolates counted reaches this one with its next count", async () => {
    const { limiter } = limiterOn();
    const key = id();
    await take(limiter, "query", key, 1);
    await take(limiterOn().limiter, "query", key, 4);
    // Allowed on this isolate's estimate (3 left), but Upstash counts it past the limit…
    const over = await limiter.limit("query", key);
    expect(over.allowed).toBe(true);
    await over.pending;
    // …so from then on the isolate refuses.
    expect((await limiter.limit("query", key)).allowed).toBe(false);
  });

  it("a class that fails closed always waits for Upstash", async () => {
    const { limiter, probe } = limiterOn();
    const key = id();
    await take(limiter, "auth", key, 1);
    probe.held = true;
    const next = limiter.limit("auth", key);
    expect(await settled(next)).toBe(false);
    probe.release();
    expect(await next).toMatchObject({ allowed: true, remaining: 3 });
  });
});

describe("error: the store unreachable is RateLimitStoreUnavailable, so the class's policy decides", () => {
  it.each(["reset", "hang"] as const)("a server that %ss: limit and refund both throw it", async (mode) => {
    const server = await startBadServer(mode);
    try {
      const { limiter } = limiterOn({ url: server.url, token: "t", timeoutMs: 300 });
      for (const bucket of ["query", "auth"] as const) {
        await expect(limiter.limit(bucket, id())).rejects.toBeInstanceOf(RateLimitStoreUnavailable);
        await expect(limiter.refund(bucket, id())).rejects.toBeInstanceOf(RateLimitStoreUnavailable);
      }
    } finally {
      await server.close();
    }
  });

  it("when a count after the response fails, the key's next call waits for the store and meets the policy", async () => {
    const { limiter, probe } = limiterOn();
    const key = id();
    await take(limiter, "query", key, 1);
    probe.failing = true;
    const decision = await limiter.limit("query", key);
    expect(decision.allowed).toBe(true);
    await decision.pending;
    await expect(limiter.limit("query", key)).rejects.toBeInstanceOf(RateLimitStoreUnavailable);
  });

  it("security: a wrong token fails without naming it or the key, and no refusal is remembered", async () => {
    const token = `wrong-${randomUUID()}`;
    const { limiter } = limiterOn({ token });
    const key = id();
    for (let i = 0; i < 2; i++) {
      const error = await limiter.limit("query", key).then(
        () => null,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(RateLimitStoreUnavailable);
      const cause = (error as Error).cause as Error;
      for (const secret of [token, key]) expect(`${cause.name} ${cause.message}`).not.toContain(secret);
    }
  });
});

describe("security: every script the limiter sends asks Upstash for key locking (observed at the bridge)", () => {
  it("the bridge saw the texts with `#!lua flags=allow-key-locking`, and every hash names one of them", async () => {
    // Its own bridge and Redis: nothing cached, so the library falls back from EVALSHA to EVAL.
    const fixture = await startBridgeFixture();
    try {
      const { limiter } = limiterOn({ url: fixture.url, token: fixture.token });
      const key = id();
      for (const bucket of ["query", "auth", "tenant-query"] as const) await take(limiter, bucket, key, 6);
      await limiter.refund("auth", key);
      const texts = fixture.scripts.filter((script) => script.command !== "EVALSHA");
      expect(texts.length).toBeGreaterThan(0);
      expect(texts.every((script) => script.keyLocking === true)).toBe(true);
      for (const script of fixture.scripts.filter((seen) => seen.command === "EVALSHA")) {
        // A hash the bridge never saw the text of was answered NOSCRIPT, and the text followed.
        if (script.keyLocking === null) expect(texts.some((text) => text.sha1 === script.sha1)).toBe(true);
        else expect(script.keyLocking).toBe(true);
      }
      // What it records for a script without the flag.
      await fixture.client().eval("return 1", [], []);
      expect(fixture.scripts.at(-1)).toMatchObject({ command: "EVAL", keyLocking: false });
    } finally {
      await fixture.stop();
    }
  });
});
