import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { CacheStore } from "../../src/cache/cache-store";
import { createTieredCache } from "../../src/cache/tiered-cache";
import type { CacheTierName } from "../../src/config";

/**
 * The order in which the tiered cache reads its tiers, with tiers whose reads the test answers by
 * hand: the memory tier alone first, then every remote tier at once, the first in order with a valid
 * entry winning. (query-cache.test.ts covers the same cache on the real local tiers.)
 */

type Call = { tier: CacheTierName; answer: (value: string | null | Error) => void };

function manualTier(name: CacheTierName, calls: Call[]): CacheStore & { puts: string[] } {
  const puts: string[] = [];
  return {
    name,
    puts,
    get: () =>
      new Promise((resolve, reject) => {
        calls.push({ tier: name, answer: (value) => (value instanceof Error ? reject(value) : resolve(value)) });
      }),
    put: async (key) => void puts.push(key),
  };
}

const envelope = (value: string) => JSON.stringify({ v: 1, stored_at: Date.now(), expires_at: Date.now() + 60_000, value });
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const defer = () => {};

function setup() {
  const calls: Call[] = [];
  const tiers = (["memory", "cache-api", "kv", "redis"] as const).map((name) => manualTier(name, calls));
  const cache = createTieredCache(tiers, { maxEntryBytes: 1 << 20 });
  const answer = (tier: CacheTierName, value: string | null | Error) => calls.find((c) => c.tier === tier)!.answer(value);
  return { calls, tiers, cache, answer };
}

describe("tiered cache: read order (happy)", () => {
  it("a memory hit reads no remote tier", async () => {
    const { calls, cache, answer } = setup();
    const lookup = cache.get("k", z.string(), defer);
    await settle();
    expect(calls.map((c) => c.tier)).toEqual(["memory"]);
    answer("memory", envelope("from memory"));
    await expect(lookup).resolves.toMatchObject({ value: "from memory", tier: "memory" });
    await settle();
    expect(calls.map((c) => c.tier)).toEqual(["memory"]);
  });

  it("past a memory miss, every remote tier is read at once, and a miss waits for all of them", async () => {
    const { calls, cache, answer } = setup();
    let settled = false;
    const lookup = cache.get("k", z.string(), defer).finally(() => {
      settled = true;
    });
    await settle();
    answer("memory", null);
    await settle();
    expect(calls.map((c) => c.tier)).toEqual(["memory", "cache-api", "kv", "redis"]);
    answer("redis", null);
    answer("cache-api", null);
    await settle();
    expect(settled).toBe(false);
    answer("kv", null);
    await expect(lookup).resolves.toBeNull();
  });

  it("the first tier in order with a valid entry wins, even when a later one answered first; faster tiers are filled", async () => {
    const { cache, answer, tiers } = setup();
    const filled: Promise<unknown>[] = [];
    const lookup = cache.get("k", z.string(), (work) => filled.push(work));
    await settle();
    answer("memory", null);
    await settle();
    answer("redis", envelope("from redis"));
    answer("kv", envelope("from kv"));
    await settle();
    answer("cache-api", null);
    await expect(lookup).resolves.toMatchObject({ value: "from kv", tier: "kv" });
    await Promise.all(filled);
    expect(tiers.map((t) => t.puts.length)).toEqual([1, 1, 0, 0]);
  });
});

describe("tiered cache: faults (error)", () => {
  it("a failing or corrupt remote tier is a miss: the next tier in order answers", async () => {
    const { cache, answer } = setup();
    const lookup = cache.get("k", z.string(), defer);
    await settle();
    answer("memory", null);
    await settle();
    answer("cache-api", new Error("tier down"));
    answer("kv", "{not json");
    answer("redis", envelope("from redis"));
    await expect(lookup).resolves.toMatchObject({ value: "from redis", tier: "redis" });
  });
});

describe("tiered cache: what a hit returns (happy)", () => {
  /** A memory tier that answers every read with `text()`: the tiered cache alone. */
  function memoryOnly(text: () => string) {
    const memory: CacheStore = { name: "memory", get: async () => text(), put: async () => {} };
    return createTieredCache([memory], { maxEntryBytes: 1 << 20 });
  }

  it("a hit whose text was parsed before for the key is not parsed again; new text is", async () => {
    let parses = 0;
    const schema = z.object({ answer: z.string() }).transform((value) => {
      parses += 1;
      return value;
    });
    let text = JSON.stringify({ v: 1, stored_at: Date.now(), expires_at: Date.now() + 60_000, value: { answer: "first" } });
    const cache = memoryOnly(() => text);
    await expect(cache.get("k", schema, defer)).resolves.toMatchObject({ value: { answer: "first" } });
    await expect(cache.get("k", schema, defer)).resolves.toMatchObject({ value: { answer: "first" } });
    expect(parses).toBe(1);
    text = JSON.stringify({ v: 1, stored_at: Date.now(), expires_at: Date.now() + 60_000, value: { answer: "second" } });
    await expect(cache.get("k", schema, defer)).resolves.toMatchObject({ value: { answer: "second" } });
    expect(parses).toBe(2);
    // Another key with the same text is parsed for itself.
    await cache.get("other", schema, defer);
    expect(parses).toBe(3);
  });

  it("an entry past its expiry is a miss even when its text was parsed before", async () => {
    const expiresAt = Date.now() + 60_000;
    const text = JSON.stringify({ v: 1, stored_at: Date.now(), expires_at: expiresAt, value: "v" });
    let now = Date.now();
    const memory: CacheStore = { name: "memory", get: async () => text, put: async () => {} };
    const cache = createTieredCache([memory], { maxEntryBytes: 1 << 20, now: () => now });
    await expect(cache.get("k", z.string(), defer)).resolves.toMatchObject({ value: "v" });
    now = expiresAt;
    await expect(cache.get("k", z.string(), defer)).resolves.toBeNull();
  });

  it("security: the value is frozen, so no request can change what the next hit returns", async () => {
    const text = JSON.stringify({ v: 1, stored_at: Date.now(), expires_at: Date.now() + 60_000, value: { sources: [{ text: "a" }] } });
    const cache = memoryOnly(() => text);
    const schema = z.object({ sources: z.array(z.object({ text: z.string() })) });
    const hit = (await cache.get("k", schema, defer))!;
    expect(() => {
      hit.value.sources[0]!.text = "changed";
    }).toThrow(TypeError);
    expect(() => hit.value.sources.push({ text: "more" })).toThrow(TypeError);
    expect((await cache.get("k", schema, defer))!.value).toEqual({ sources: [{ text: "a" }] });
  });
});
