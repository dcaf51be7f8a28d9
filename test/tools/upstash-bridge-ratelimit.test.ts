import { Ratelimit } from "@upstash/ratelimit";
import { Redis as IORedis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BridgeFixture, startBridgeFixture } from "./upstash-bridge-fixture";

// The unmodified @upstash/ratelimit (its Lua scripts carry `#!lua flags=allow-key-locking`, which
// real Redis rejects) through the bridge to real redis-server. Windows are long enough that no
// window boundary can fall inside a test, so the expected counts are exact.
const LONG = "1000 d";
const LONG_MS = 1000 * 24 * 60 * 60 * 1000;

let fx: BridgeFixture;
/** A direct connection to Redis, to observe it from outside the bridge. */
let observer: IORedis;
let prefixCounter = 0;

beforeAll(async () => {
  fx = await startBridgeFixture();
  observer = new IORedis(fx.redis.url, { lazyConnect: true });
  await observer.connect();
});
afterAll(async () => {
  observer?.disconnect();
  await fx?.stop();
});

function limiter(
  limiter: ConstructorParameters<typeof Ratelimit>[0]["limiter"],
  clientOptions: Parameters<BridgeFixture["client"]>[0] = {},
) {
  return new Ratelimit({
    redis: fx.client(clientOptions),
    limiter,
    analytics: false,
    ephemeralCache: new Map(),
    prefix: `rl-test-${++prefixCounter}`,
  });
}

/** How often Redis has executed a command (INFO commandstats), e.g. "eval". */
async function commandCalls(name: string): Promise<number> {
  const info = await observer.info("commandstats");
  return Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0);
}

describe.each([
  ["fixedWindow", () => Ratelimit.fixedWindow(5, LONG)],
  ["slidingWindow", () => Ratelimit.slidingWindow(5, LONG)],
  ["tokenBucket", () => Ratelimit.tokenBucket(5, LONG, 5)],
])("happy: Ratelimit.%s through the bridge", (name, algorithm) => {
  it("allows exactly the limit, counts `remaining` down, then blocks with a sensible `reset`", async () => {
    const rl = limiter(algorithm());
    const started = Date.now();
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await rl.limit("user-a"));
    expect(results.map((r) => r.success)).toEqual([true, true, true, true, true, false, false]);
    expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    expect(results.every((r) => r.limit === 5)).toBe(true);
    for (const { reset } of results) {
      expect(reset).toBeGreaterThan(started);
      expect(reset).toBeLessThanOrEqual(Date.now() + LONG_MS);
    }
    if (name === "tokenBucket") {
      // The bucket refills one interval after it was first filled.
      expect(results[0]!.reset).toBeGreaterThanOrEqual(started + LONG_MS);
      expect(results[0]!.reset).toBeLessThanOrEqual(started + LONG_MS + 5_000);
    } else {
      expect(results[0]!.reset % LONG_MS).toBe(0);
    }
    // ephemeralCache is on: once blocked, the limiter answers locally without Redis.
    expect(results[6]!.reason).toBe("cacheBlock");
  });

  it("keeps identifiers independent", async () => {
    const rl = limiter(algorithm());
    for (let i = 0; i < 5; i++) expect((await rl.limit("busy")).success).toBe(true);
    expect((await rl.limit("busy")).success).toBe(false);
    const other = await rl.limit("quiet");
    expect(other.success).toBe(true);
    expect(other.remaining).toBe(4);
  });

  it("never lets more than the limit through under many parallel calls", async () => {
    // One HTTP request per limit() call, all in flight at once.
    const rl = limiter(algorithm(), { enableAutoPipelining: false });
    const results = await Promise.all(Array.from({ length: 30 }, () => rl.limit("crowd")));
    expect(results.filter((r) => r.success)).toHaveLength(5);
    const remaining = results
      .filter((r) => r.success)
      .map((r) => r.remaining)
      .sort();
    expect(remaining).toEqual([0, 1, 2, 3, 4]);
  });
});

describe("happy: Ratelimit.cachedFixedWindow through the bridge", () => {
  it("counts in Redis behind its local cache", async () => {
    const rl = limiter(Ratelimit.cachedFixedWindow(3, LONG));
    const results = [];
    for (let i = 0; i < 5; i++) {
      const result = await rl.limit("cached");
      await result.pending;
      results.push(result.success);
    }
    expect(results).toEqual([true, true, true, false, false]);
    const keys = await observer.keys(`rl-test-${prefixCounter}:cached:*`);
    expect(keys).toHaveLength(1);
    expect(Number(await observer.get(keys[0]!))).toBe(3);
  });
});

describe("happy: script caching (EVALSHA of the original script's SHA)", () => {
  it("runs EVALSHA after the first call instead of falling back to EVAL every time", async () => {
    const rl = limiter(Ratelimit.slidingWindow(100, LONG), { enableAutoPipelining: false });
    await rl.limit("warm-up");
    const evalsBefore = await commandCalls("eval");
    for (let i = 0; i < 5; i++) expect((await rl.limit("steady")).success).toBe(true);
    expect(await commandCalls("eval")).toBe(evalsBefore);
  });

  it("error: after SCRIPT FLUSH on the server, limit() recovers through the NOSCRIPT → EVAL fallback", async () => {
    const rl = limiter(Ratelimit.fixedWindow(10, LONG), { enableAutoPipelining: false });
    expect((await rl.limit("flushed")).remaining).toBe(9);
    await observer.script("FLUSH");
    const evalsBefore = await commandCalls("eval");
    const after = await rl.limit("flushed");
    expect(after.success).toBe(true);
    expect(after.remaining).toBe(8);
    expect(await commandCalls("eval")).toBe(evalsBefore + 1);
    // …and the reloaded script is found by its SHA again.
    expect((await rl.limit("flushed")).remaining).toBe(7);
    expect(await commandCalls("eval")).toBe(evalsBefore + 1);
  });
});
