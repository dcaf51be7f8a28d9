import { env } from "cloudflare:test";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { hashPassword } from "../../src/auth/passwords";
import { networkOf } from "../../src/middleware/rate-limit";
import { bindingsWith, call, callWithBindings, createKey, json, tenantFirst, uniqueTenant } from "./helpers";
import { TEST_SECRETS } from "./secrets";

/** Fairness between tenants (issue 11): shared tenant buckets, key caps, per-tenant limits, ingest by size, quotas, throttled failures. */

async function setTenantLimits(tenant: string, limits: Record<string, unknown>, plan = "test-plan") {
  await env.DB.prepare(
    `INSERT INTO tenants (tenant, index_version, updated_at, plan, limits) VALUES (?1, 0, ?2, ?3, ?4)
     ON CONFLICT (tenant) DO UPDATE SET plan = excluded.plan, limits = excluded.limits`,
  )
    .bind(tenant, Date.now(), plan, JSON.stringify(limits))
    .run();
}

const docs = (n: number, prefix = "d", text = "Fairness between tenants is a property of the platform.") =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, text: `${text} ${prefix} ${i}` }));

async function storedDocuments(tenant: string): Promise<number> {
  return (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM documents"))!.n;
}

describe("tenant-level rate limits (fairness)", () => {
  it("security: a tenant's keys share one bucket per route class: minting keys buys no capacity", async () => {
    const tenant = uniqueTenant("fair");
    const bindings = bindingsWith({ TENANT_RATE_LIMIT_AUTH: "3/1h", RATE_LIMIT_AUTH: "100/60s" });
    const keys = await Promise.all(Array.from({ length: 4 }, () => createKey(tenant, ["admin"])));
    const statuses = [];
    for (const { key } of keys) statuses.push((await callWithBindings(bindings, "/v1/api-keys", { auth: key })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // Another tenant is untouched.
    const other = await createKey(uniqueTenant("fair-other"), ["admin"]);
    expect((await callWithBindings(bindings, "/v1/api-keys", { auth: other.key })).status).toBe(200);
  });

  it("happy: a tenants row sets the tenant's own limits, and /v1/stats shows them with usage", async () => {
    const tenant = uniqueTenant("plan");
    await setTenantLimits(tenant, { auth: "2/1h", max_documents: 7 }, "gold");
    const { key } = await createKey(tenant, ["admin"]);
    const bindings = bindingsWith({ TENANT_LIMITS_CACHE_SECONDS: "0" });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await callWithBindings(bindings, "/v1/api-keys", { auth: key })).status);
    expect(statuses).toEqual([200, 200, 429]);
    const stats = await json(await call("/v1/stats", { auth: key }));
    expect(stats.quota).toMatchObject({ plan: "gold", documents: 7, rate_limits: { auth: "2/1h" } });
    expect(stats.usage).toEqual({ documents: 0, chunks: 0, bytes: 0, api_keys: 1 });
  });

  it("security: a tenant cannot hold more active API keys than its cap; revoking frees a place", async () => {
    const tenant = uniqueTenant("keys");
    await setTenantLimits(tenant, { max_api_keys: 2 });
    const { key } = await createKey(tenant, ["admin"]);
    const bindings = bindingsWith({ TENANT_LIMITS_CACHE_SECONDS: "0" });
    const mint = () => callWithBindings(bindings, "/v1/api-keys", { auth: key, body: { name: "k", roles: ["reader"] } });
    const second = await mint();
    expect(second.status).toBe(201);
    const third = await mint();
    expect(third.status).toBe(403);
    expect(third.headers.get("content-type")).toBe("application/problem+json");
    expect(await json(third)).toMatchObject({ code: "QUOTA_EXCEEDED", quota: "api_keys", limit: 2 });
    const { id } = await json(second);
    expect((await callWithBindings(bindings, `/v1/api-keys/${id}`, { auth: key, method: "DELETE" })).status).toBe(204);
    expect((await mint()).status).toBe(201);
  });
});

describe("ingest charged by size, storage quotas (fairness)", () => {
  it("security: POST /v1/documents costs one token per document", async () => {
    const tenant = uniqueTenant("ingest-cost");
    const { key } = await createKey(tenant, ["writer"]);
    const bindings = bindingsWith({ RATE_LIMIT_INGEST: "5/1h" });
    const first = await callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents: docs(3, "a") } });
    expect(first.status).toBe(202);
    expect(first.headers.get("ratelimit-remaining")).toBe("2");
    const second = await callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents: docs(3, "b") } });
    expect(second.status).toBe(429);
    expect(await storedDocuments(tenant)).toBe(3);
  });

  it("security: a document quota refuses with 403 QUOTA_EXCEEDED and stores nothing; replacing stays possible", async () => {
    const tenant = uniqueTenant("quota-docs");
    await setTenantLimits(tenant, { max_documents: 2 });
    const { key } = await createKey(tenant, ["writer"]);
    const bindings = bindingsWith({ TENANT_LIMITS_CACHE_SECONDS: "0" });
    const post = (documents: unknown[]) => callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents } });
    const over = await post(docs(3));
    expect(over.status).toBe(403);
    expect(await json(over)).toMatchObject({ code: "QUOTA_EXCEEDED", quota: "documents", limit: 2, usage: 0 });
    expect(await storedDocuments(tenant)).toBe(0);
    expect((await post(docs(2))).status).toBe(202);
    expect((await post(docs(2, "d", "A new version of the same two documents."))).status).toBe(202);
    expect((await post(docs(1, "new"))).status).toBe(403);
    expect(await storedDocuments(tenant)).toBe(2);
  });

  it("security: concurrent ingests cannot take a tenant past its document quota; each refused one stores nothing", async () => {
    const tenant = uniqueTenant("quota-race");
    await setTenantLimits(tenant, { max_documents: 5 });
    const { key } = await createKey(tenant, ["writer"]);
    const bindings = bindingsWith({ TENANT_LIMITS_CACHE_SECONDS: "0" });
    // Before, each passed the check against what was stored before any of them wrote: 12 of 5 were stored.
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents: docs(2, `r${i}`) } }),
      ),
    );
    const accepted = responses.filter((response) => response.status === 202).length;
    for (const response of responses.filter((response) => response.status !== 202)) {
      expect(response.status).toBe(403);
      expect((await json(response)).code).toBe("QUOTA_EXCEEDED");
    }
    expect(accepted).toBeGreaterThan(0);
    expect(await storedDocuments(tenant)).toBe(accepted * 2);
    expect(accepted * 2).toBeLessThanOrEqual(5);
  });

  it("security: a byte quota counts the UTF-8 size of text and metadata", async () => {
    const tenant = uniqueTenant("quota-bytes");
    await setTenantLimits(tenant, { max_bytes: 1200 });
    const { key } = await createKey(tenant, ["writer"]);
    const bindings = bindingsWith({ TENANT_LIMITS_CACHE_SECONDS: "0" });
    const big = [{ id: "big", text: "é".repeat(700) }]; // 1400 bytes, 700 characters
    const refused = await callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents: big } });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toMatchObject({ code: "QUOTA_EXCEEDED", quota: "bytes", limit: 1200 });
    expect(await storedDocuments(tenant)).toBe(0);
    const small = [{ id: "small", text: "e".repeat(700) }];
    expect((await callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents: small } })).status).toBe(202);
    const stats = await json(await call("/v1/stats", { auth: key }));
    expect(stats.usage.bytes).toBeGreaterThanOrEqual(700);
    expect(stats.quota.bytes).toBe(1200);
  });
});

describe("unauthenticated traffic (fairness)", () => {
  it("security: failed authentication is limited per client IP; then the IP is refused before any credential lookup", async () => {
    const bindings = bindingsWith({ RATE_LIMIT_AUTH_FAILURES_IP: "3/1h" });
    const ip = `203.0.113.${Math.floor(Math.random() * 250)}`;
    const { key } = await createKey(uniqueTenant("ip"), ["reader"]);
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const bad = `erk_${"a".repeat(16)}_${"b".repeat(43)}`;
      statuses.push((await callWithBindings(bindings, "/v1/me", { auth: bad, headers: { "cf-connecting-ip": ip } })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // Even a valid key from that IP waits out the window; another IP is unaffected.
    expect((await callWithBindings(bindings, "/v1/me", { auth: key, headers: { "cf-connecting-ip": ip } })).status).toBe(429);
    expect((await callWithBindings(bindings, "/v1/me", { auth: key, headers: { "cf-connecting-ip": `${ip}1` } })).status).toBe(200);
  });
});

describe("client networks (fairness)", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:DB8:1:2::9", "2001:db8:1:2::/64"],
    ["::ffff:198.51.100.9", "198.51.100.9"],
    ["unknown", "unknown"],
    ["2001:db8::zz", "2001:db8::zz"],
  ])("security: %s counts as %s", (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });

  it("security: failed authentication from one IPv6 /64 shares one bucket, whatever the address", async () => {
    const bindings = bindingsWith({ RATE_LIMIT_AUTH_FAILURES_IP: "3/1h" });
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    const bad = `erk_${"e".repeat(16)}_${"f".repeat(43)}`;
    const statuses = [];
    for (let i = 1; i <= 4; i++) {
      statuses.push((await callWithBindings(bindings, "/v1/me", { auth: bad, headers: { "cf-connecting-ip": `${prefix}::${i}` } })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const elsewhere = await callWithBindings(bindings, "/v1/me", {
      auth: bad,
      headers: { "cf-connecting-ip": `${prefix.slice(0, -1)}2::1` },
    });
    expect(elsewhere.status).toBe(401);
  });
});

describe("unauthenticated traffic when the limiter is down (fairness)", () => {
  it("error: a bad credential is still a 401 (not a 503) when the failure cannot be counted", async () => {
    const bindings = bindingsWith({ UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9" });
    const bad = `erk_${"c".repeat(16)}_${"d".repeat(43)}`;
    const response = await callWithBindings(bindings, "/v1/me", { auth: bad, headers: { "cf-connecting-ip": "192.0.2.77" } });
    expect(response.status).toBe(401);
    expect((await json(response)).code).toBe("API_KEY_INVALID");
  });
});

describe("login (fairness)", () => {
  async function createUser(tenant: string, iterations = 1000) {
    const username = `alice-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(username, tenant, JSON.stringify(["admin"]), await hashPassword("correct horse battery", iterations), Date.now())
      .run();
    return username;
  }

  it("security: successful logins never spend the account's budget; only failures do", async () => {
    const username = await createUser(uniqueTenant("login"));
    const bindings = bindingsWith({ RATE_LIMIT_AUTH: "2/1h", RATE_LIMIT_LOGIN_IP: "100/60s" });
    const login = (password: string) => callWithBindings(bindings, "/v1/auth/login", { body: { username, password } });
    for (let i = 0; i < 4; i++) expect((await login("correct horse battery")).status).toBe(200);
    expect((await login("wrong")).status).toBe(401);
    expect((await login("wrong")).status).toBe(401);
    expect((await login("wrong")).status).toBe(429);
  });

  it("security: concurrent guesses cannot get past the account's budget: its token is taken before the password is verified", async () => {
    const username = await createUser(uniqueTenant("login-burst"), 100_000);
    const bindings = bindingsWith({ RATE_LIMIT_AUTH: "3/1h", RATE_LIMIT_LOGIN_ACCOUNT: "3/1h", RATE_LIMIT_LOGIN_IP: "100/60s" });
    const login = (password: string, ip: string) =>
      callWithBindings(bindings, "/v1/auth/login", { body: { username, password }, headers: { "cf-connecting-ip": ip } });
    // From 12 networks at once, as a botnet would (the per-network limits never apply), the right
    // password last. Before, every guess passed a check that none had counted yet: 11 failures
    // reached the password check, and the right one got its 200 however many had failed.
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) => login(i === 11 ? "correct horse battery" : `wrong-${i}`, `198.51.100.${i + 1}`)),
    );
    const statuses = burst.map((response) => response.status);
    // At most the budget's 3 failures reached the check, and besides them only the right password,
    // whose token is given back once it is verified. When that refund lands before a later guess
    // is counted (a loaded machine), that guess gets the token: still 3 failures, never more.
    const failures = statuses.filter((status) => status === 401).length;
    expect(failures, JSON.stringify(statuses)).toBeGreaterThanOrEqual(2);
    expect(failures, JSON.stringify(statuses)).toBeLessThanOrEqual(3);
    expect(
      statuses.filter((status) => status !== 401 && status !== 429),
      JSON.stringify(statuses),
    ).toEqual(statuses[11] === 200 ? [200] : []);
    // Guessing on, one at a time: the account's failures in the window stop at exactly the budget,
    // and then even the right password is refused.
    const after = [];
    for (let i = 0; i < 3 - failures + 1; i++) after.push((await login(`late-${i}`, `198.51.101.${i + 1}`)).status);
    expect(after).toEqual([...Array<number>(3 - failures).fill(401), 429]);
    expect((await login("correct horse battery", "198.51.102.1")).status).toBe(429);
  });

  it("security: a stranger's wrong guesses from one network do not lock the owner out of another", async () => {
    const username = await createUser(uniqueTenant("login-lockout"));
    const bindings = bindingsWith({ RATE_LIMIT_AUTH: "3/1h", RATE_LIMIT_LOGIN_ACCOUNT: "20/1h", RATE_LIMIT_LOGIN_IP: "100/60s" });
    const login = (password: string, ip: string) =>
      callWithBindings(bindings, "/v1/auth/login", { body: { username, password }, headers: { "cf-connecting-ip": ip } });
    const stranger = [];
    for (let i = 0; i < 5; i++) stranger.push((await login(`guess-${i}`, "203.0.113.9")).status);
    expect(stranger).toEqual([401, 401, 401, 429, 429]);
    // Before: one bucket per account, spent by the stranger, so the owner got 429 too.
    expect((await login("correct horse battery", "2001:db8:77::1")).status).toBe(200);
    // The stranger's network stays refused, even with the right password.
    expect((await login("correct horse battery", "203.0.113.9")).status).toBe(429);
  });

  it("security: spraying one account from many networks still meets the account-wide ceiling", async () => {
    const username = await createUser(uniqueTenant("login-spray"));
    const bindings = bindingsWith({ RATE_LIMIT_AUTH: "3/1h", RATE_LIMIT_LOGIN_ACCOUNT: "6/1h", RATE_LIMIT_LOGIN_IP: "100/60s" });
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      const response = await callWithBindings(bindings, "/v1/auth/login", {
        body: { username, password: `spray-${i}` },
        headers: { "cf-connecting-ip": `198.18.${i}.1` },
      });
      statuses.push(response.status);
    }
    // Eight networks, one guess each: no per-network bucket is spent, the account's is after six.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);
  });

  it("security: the login bucket cannot collide with a principal's: a tenant named `user` with subject `<name>` does not spend it", async () => {
    const username = await createUser(uniqueTenant("collide"));
    const bindings = bindingsWith({ RATE_LIMIT_AUTH: "2/1h", RATE_LIMIT_LOGIN_IP: "100/60s", TENANT_RATE_LIMIT_AUTH: "100/60s" });
    // Before: login counted `user:<name>` in the auth bucket, the same key as tenant "user", subject "<name>".
    const token = await new SignJWT({ tenant: "user", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(username)
      .setIssuer("edge-rag")
      .setAudience("edge-rag-api")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(TEST_SECRETS.AUTH_JWT_SECRET));
    for (let i = 0; i < 3; i++) await callWithBindings(bindings, "/v1/api-keys", { auth: token });
    expect((await callWithBindings(bindings, "/v1/api-keys", { auth: token })).status).toBe(429);
    const login = await callWithBindings(bindings, "/v1/auth/login", { body: { username, password: "correct horse battery" } });
    expect(login.status).toBe(200);
  });
});
