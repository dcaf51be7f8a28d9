import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { createTenantLimitsStore } from "../../src/store/tenant-limits";
import { uniqueTenant } from "./helpers";

/**
 * A tenant's limits are answered in the colo: from isolate memory, re-read after the response in
 * steady use, from a D1 read replica. Real D1 (one local database: no replica lag to see), its
 * sessions recorded; the store's clock in the test's hand.
 */
function limitsStore() {
  const config = loadConfig(env);
  const clock = { now: Date.now() };
  const sessions: string[] = [];
  const db = {
    withSession: (constraint: string) => {
      sessions.push(constraint);
      return env.DB.withSession(constraint);
    },
  } as unknown as D1Database;
  const store = createTenantLimitsStore(db, config, () => clock.now);
  return { store, clock, sessions, ttlMs: config.TENANT_LIMITS_CACHE_SECONDS * 1000 };
}

const setQueryLimit = (tenant: string, limit: string) =>
  env.DB.prepare(
    `INSERT INTO tenants (tenant, index_version, updated_at, plan, limits) VALUES (?1, 0, ?2, 'p', ?3)
     ON CONFLICT (tenant) DO UPDATE SET limits = excluded.limits`,
  )
    .bind(tenant, Date.now(), JSON.stringify({ query: limit }))
    .run();

describe("tenant limits in the colo (happy)", () => {
  it("reads from a read replica, then from memory; past half the cache time a re-read after the response, while hits wait on none", async () => {
    const { store, clock, sessions, ttlMs } = limitsStore();
    const tenant = uniqueTenant("limits");
    await setQueryLimit(tenant, "7/1h");
    expect((await store.get(tenant)).rate.query.limit).toBe(7);
    expect(sessions).toEqual(["first-unconstrained"]);
    await setQueryLimit(tenant, "9/1h");
    const background: Array<Promise<unknown>> = [];
    const later = (work: Promise<unknown>) => void background.push(work);
    expect((await store.get(tenant, later)).rate.query.limit).toBe(7);
    expect(background).toHaveLength(0);
    clock.now += ttlMs / 2;
    let reread = false;
    expect((await store.get(tenant, later)).rate.query.limit).toBe(7);
    expect(background).toHaveLength(1);
    background[0]!.then(() => (reread = true));
    expect((await store.get(tenant, later)).rate.query.limit).toBe(7);
    expect([background.length, reread]).toEqual([1, false]);
    await background[0];
    expect((await store.get(tenant, later)).rate.query.limit).toBe(9);
    expect(sessions).toEqual(["first-unconstrained", "first-unconstrained"]);
  });

  it("concurrent first reads are each their own: no request awaits another's pending read", async () => {
    const { store, sessions } = limitsStore();
    const tenant = uniqueTenant("limits-concurrent");
    await setQueryLimit(tenant, "3/1h");
    const both = await Promise.all([store.get(tenant), store.get(tenant)]);
    expect(both.map((limits) => limits.rate.query.limit)).toEqual([3, 3]);
    expect(sessions).toHaveLength(2);
  });
});
