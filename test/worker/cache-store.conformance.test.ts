import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type CacheStore, createCacheApiStore, createKvStore, createMemoryStore, createRedisStore } from "../../src/cache/cache-store";
import { createUpstashRedis } from "../../src/redis/upstash-redis";

/**
 * One suite for every tier of the query cache (the CacheStore port), run against the real local
 * bindings: isolate memory, the Cache API and KV of workerd, and Upstash Redis through the REST
 * bridge in front of a real redis-server.
 */
/** The worker's client for the redis tier (src/services.ts builds it the same way). */
const redis = (token = env.UPSTASH_REDIS_REST_TOKEN!) =>
  createUpstashRedis({ url: env.UPSTASH_REDIS_REST_URL!, token, timeoutMs: 5_000, retries: 0, rawValues: true });

const adapters: Array<{ name: string; create: () => CacheStore; shortLifetimes: boolean }> = [
  { name: "memory", create: () => createMemoryStore({ maxEntries: 100, maxBytes: 1 << 20 }), shortLifetimes: true },
  { name: "cache-api", create: () => createCacheApiStore(caches.default), shortLifetimes: true },
  // KV raises lifetimes below 60 s to 60 s; the tiered cache checks each entry's own expiry.
  { name: "kv", create: () => createKvStore(env.KV, `conformance-${crypto.randomUUID()}:`), shortLifetimes: false },
  { name: "redis", create: () => createRedisStore(redis(), `conformance-${crypto.randomUUID()}:`), shortLifetimes: true },
];

const key = () => `k-${crypto.randomUUID()}`;

describe.each(adapters)("CacheStore conformance: $name", ({ create, shortLifetimes }) => {
  it("returns null for a key never stored (happy)", async () => {
    expect(await create().get(key())).toBeNull();
  });

  it("returns exactly what was stored, unicode and all (happy)", async () => {
    const store = create();
    const k = key();
    const value = JSON.stringify({ answer: "Zürich — 東京 — 🚀", n: 1 });
    await store.put(k, value, 120);
    expect(await store.get(k)).toBe(value);
  });

  it("replaces an entry on a second put (happy)", async () => {
    const store = create();
    const k = key();
    await store.put(k, "first", 120);
    await store.put(k, "second", 120);
    expect(await store.get(k)).toBe("second");
  });

  it("never answers one key with another's value (security)", async () => {
    const store = create();
    const [a, b] = [key(), key()];
    await store.put(a, "value of a", 120);
    expect(await store.get(b)).toBeNull();
    expect(await store.get(`${a}x`)).toBeNull();
  });

  it(
    shortLifetimes ? "forgets an entry after its lifetime (happy)" : "keeps a short-lived entry for KV's 60 s minimum (happy)",
    async () => {
      const store = create();
      const k = key();
      await store.put(k, "short-lived", 1);
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      expect(await store.get(k)).toBe(shortLifetimes ? null : "short-lived");
    },
  );
});

describe("CacheStore: redis failures (security)", () => {
  it("a failing Redis rejects without quoting the command: no key, no value, no token", async () => {
    const token = `wrong-${crypto.randomUUID()}`;
    const store = createRedisStore(redis(token));
    const [k, value] = [key(), `answer-${crypto.randomUUID()}`];
    for (const call of [store.get(k), store.put(k, value, 60)]) {
      const error = await call.then(
        () => null,
        (reason: Error) => reason,
      );
      expect(error).toBeInstanceOf(Error);
      for (const secret of [k, value, token]) expect(`${error!.name}: ${error!.message}`).not.toContain(secret);
    }
  });
});

describe("CacheStore: memory bounds (happy)", () => {
  it("evicts the least recently used entries beyond its entry and byte bounds", async () => {
    const store = createMemoryStore({ maxEntries: 2, maxBytes: 1 << 20 });
    await store.put("a", "1", 60);
    await store.put("b", "2", 60);
    await store.get("a"); // a is now the most recently used
    await store.put("c", "3", 60);
    expect(await store.get("b")).toBeNull();
    expect(await store.get("a")).toBe("1");

    const small = createMemoryStore({ maxEntries: 100, maxBytes: 1000 });
    await small.put("big", "x".repeat(400), 60); // 800 bytes as UTF-16
    await small.put("bigger", "y".repeat(400), 60);
    expect(await small.get("big")).toBeNull();
    expect(await small.get("bigger")).toBe("y".repeat(400));
    // An entry over the byte bound alone is not kept, and evicts nothing.
    await small.put("huge", "z".repeat(600), 60);
    expect(await small.get("huge")).toBeNull();
    expect(await small.get("bigger")).toBe("y".repeat(400));
  });
});
