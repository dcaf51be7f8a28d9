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

  it("the bound is 5 s, and configuration refuses one over 10 s", () => {
    expect(loadConfig({ ...env, API_KEY_CACHE_TTL_SECONDS: undefined }).API_KEY_CACHE_TTL_SECONDS).toBe(5);
    expect(loadConfig({ ...env, API_KEY_CACHE_TTL_SECONDS: "10" }).API_KEY_CACHE_TTL_SECONDS).toBe(10);
    expect(() => loadConfig({ ...env, API_KEY_CACHE_TTL_SECONDS: "11" })).toThrow(ConfigError);
  });
});
