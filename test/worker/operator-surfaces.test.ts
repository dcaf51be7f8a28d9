import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { describe, expect, inject, it } from "vitest";
import { mintOriginToken } from "../../src/origin/origin-token";
import { bindingsWith, callWithBindings, json } from "./helpers";
import { TEST_SECRETS } from "./secrets";

/** Operator surfaces (issue 11): tokens bound to one environment and one origin route, a cheap /ready (the configuration that refuses plain http: test/unit/config.test.ts). */

describe("origin tokens (security)", () => {
  const origin = () => inject("originUrl");

  it("security: the worker's origin tokens are bound to one route and tenant, live 30 s and are good once", async () => {
    const token = await mintOriginToken(TEST_SECRETS.ORIGIN_JWT_SECRET, "/v1/embed", "acme");
    const claims = decodeJwt(token);
    // Only the route's audience: before, the route-less "origin" rode along, which any origin took for any route.
    expect(claims.aud).toBe("origin:/v1/embed");
    expect(claims).toMatchObject({ tenant: "acme", jti: expect.any(String) });
    expect(claims.exp! - claims.iat!).toBe(30);
    const body = JSON.stringify({ inputs: ["x"], kind: "query" });
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    expect((await fetch(new URL("/v1/embed", origin()), { method: "POST", headers, body })).status).toBe(200);
    // The same token again (a replay) is refused, and so is it on another route.
    expect((await fetch(new URL("/v1/embed", origin()), { method: "POST", headers, body })).status).toBe(401);
    const generate = JSON.stringify({ query: "q", contexts: [] });
    const fresh = await mintOriginToken(TEST_SECRETS.ORIGIN_JWT_SECRET, "/v1/embed", "acme");
    const other = { authorization: `Bearer ${fresh}`, "content-type": "application/json" };
    expect((await fetch(new URL("/v1/generate", origin()), { method: "POST", headers: other, body: generate })).status).toBe(401);
    expect((await fetch(new URL("/v1/readyz", origin()), { headers: other })).status).toBe(401);
    // A data route's token must name a tenant.
    const anonymous = await mintOriginToken(TEST_SECRETS.ORIGIN_JWT_SECRET, "/v1/embed");
    const noTenant = { authorization: `Bearer ${anonymous}`, "content-type": "application/json" };
    expect((await fetch(new URL("/v1/embed", origin()), { method: "POST", headers: noTenant, body })).status).toBe(401);
  });

  it("security: the origin's open /readyz names no backend or model; GET /v1/readyz needs the token", async () => {
    const open = await (await fetch(new URL("/readyz", origin()))).text();
    expect(open).not.toMatch(/model|backend|extractive|use/i);
    expect((await fetch(new URL("/v1/readyz", origin()))).status).toBe(401);
    const token = await mintOriginToken(TEST_SECRETS.ORIGIN_JWT_SECRET, "/v1/readyz");
    const detail = await fetch(new URL("/v1/readyz", origin()), { headers: { authorization: `Bearer ${token}` } });
    expect(detail.status).toBe(200);
    expect(await detail.json()).toMatchObject({ status: "ready", checks: { embeddings: { ok: true, model: expect.any(String) } } });
  });
});

describe("/ready (fairness)", () => {
  it("security: repeated anonymous hits reuse the last result for a few seconds instead of probing every dependency", async () => {
    let statements = 0;
    const countingDb = new Proxy(env.DB, {
      get(target, property) {
        if (property === "prepare") {
          return (sql: string) => {
            statements += 1;
            return target.prepare(sql);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const bindings = bindingsWith({ DB: countingDb, READY_CACHE_SECONDS: "5" });
    const first = await callWithBindings(bindings, "/ready");
    expect(first.status).toBe(200);
    const probes = statements;
    expect(probes).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      const again = await callWithBindings(bindings, "/ready");
      expect(again.status).toBe(200);
      expect((await json(again)).status).toBe("ready");
    }
    expect(statements).toBe(probes);
  });
});
