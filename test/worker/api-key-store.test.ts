import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApiKeyStore } from "../../src/auth/api-key-store";
import { ConfigError, loadConfig } from "../../src/config";
import { uniqueTenant } from "./helpers";

/**
 * A key is answered from isolate memory (no D1 round trip on a hot path) for at most
 * API_KEY_CACHE_TTL_SECONDS after its read: the bound on how long a key revoked elsewhere (another
 * isolate, another colo, the CLI) keeps working. Real D1; the store's clock in the test's hand.
 */
describe("API key lookups (security: how long a revoked key keeps working)", () => {
  it("a key revoked elsewhere keeps working until its cached read is API_KEY_CACHE_TTL_SECONDS old, then stops", async () => {
    const ttlMs = loadConfig(env).API_KEY_CACHE_TTL_SECONDS * 1000;
    const clock = { now: Date.now() };
    const store = createApiKeyStore(env.DB, { cacheTtlMs: ttlMs, now: () => clock.now });
    const created = await store.create({ tenant: uniqueTenant("ttl"), name: "k", roles: ["reader"], expiresAt: null, createdBy: null });
    const { id } = created!.record;
    expect((await store.find(id))?.revoked_at).toBeNull();
    // Revoked by another isolate: this one's cached read does not know yet.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1").bind(id, Date.now()).run();
    clock.now += ttlMs - 1;
    expect((await store.find(id))?.revoked_at).toBeNull();
    clock.now += 1;
    expect((await store.find(id))?.revoked_at).toEqual(expect.any(Number));
  });

  it("a key in steady use is read again after the response past half its cache time: its hits wait on no D1 read", async () => {
    const ttlMs = loadConfig(env).API_KEY_CACHE_TTL_SECONDS * 1000;
    const clock = { now: Date.now() };
    const store = createApiKeyStore(env.DB, { cacheTtlMs: ttlMs, now: () => clock.now });
    const created = await store.create({ tenant: uniqueTenant("reread"), name: "k", roles: ["reader"], expiresAt: null, createdBy: null });
    const { id } = created!.record;
    await store.find(id);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1").bind(id, Date.now()).run();
    const background: Array<Promise<unknown>> = [];
    const later = (work: Promise<unknown>) => void background.push(work);
    expect((await store.find(id, later))?.revoked_at).toBeNull();
    expect(background).toHaveLength(0);
    clock.now += ttlMs / 2;
    // Answered from memory while the re-read is still on its way; one re-read at a time.
    let reread = false;
    expect((await store.find(id, later))?.revoked_at).toBeNull();
    expect(background).toHaveLength(1);
    background[0]!.then(() => (reread = true));
    expect((await store.find(id, later))?.revoked_at).toBeNull();
    expect(background).toHaveLength(1);
    expect(reread).toBe(false);
    await background[0];
    // The revocation reached this isolate half a lifetime early.
    expect((await store.find(id, later))?.revoked_at).toEqual(expect.any(Number));
  });

  it("a key revoked in this isolate is forgotten at once, even when a re-read from before lands after", async () => {
    const ttlMs = loadConfig(env).API_KEY_CACHE_TTL_SECONDS * 1000;
    const clock = { now: Date.now() };
    // D1 whose reads hand their rows back only when the test says so.
    const held: Array<() => void> = [];
    const holding = { on: false };
    const statement = (inner: D1PreparedStatement): D1PreparedStatement =>
      ({
        bind: (...values: unknown[]) => statement(inner.bind(...values)),
        run: () => inner.run(),
        first: async () => {
          const row = await inner.first();
          if (holding.on) await new Promise<void>((resolve) => held.push(resolve));
          return row;
        },
      }) as unknown as D1PreparedStatement;
    const db = { prepare: (query: string) => statement(env.DB.prepare(query)) } as unknown as D1Database;
    const store = createApiKeyStore(db, { cacheTtlMs: ttlMs, now: () => clock.now });
    const tenant = uniqueTenant("revoke-here");
    const created = await store.create({ tenant, name: "k", roles: ["reader"], expiresAt: null, createdBy: null });
    const { id } = created!.record;
    await store.find(id);
    clock.now += ttlMs / 2;
    holding.on = true;
    const background: Array<Promise<unknown>> = [];
    await store.find(id, (work) => void background.push(work));
    // The re-read has its (unrevoked) row; the revocation lands before it is taken in.
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    holding.on = false;
    expect(await store.revoke(tenant, id)).toBe(true);
    held.shift()!();
    await background[0];
    expect((await store.find(id))?.revoked_at).toEqual(expect.any(Number));
  });

  it("the bound is 5 s, and configuration refuses one over 10 s", () => {
    expect(loadConfig({ ...env, API_KEY_CACHE_TTL_SECONDS: undefined }).API_KEY_CACHE_TTL_SECONDS).toBe(5);
    expect(loadConfig({ ...env, API_KEY_CACHE_TTL_SECONDS: "10" }).API_KEY_CACHE_TTL_SECONDS).toBe(10);
    expect(() => loadConfig({ ...env, API_KEY_CACHE_TTL_SECONDS: "11" })).toThrow(ConfigError);
  });
});
