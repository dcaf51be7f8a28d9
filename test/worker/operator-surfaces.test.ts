import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { describe, expect, inject, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import { mintOriginToken } from "../../src/origin/origin-token";
import { bindingsWith, callWithBindings, json } from "./helpers";
import { TEST_SECRETS } from "./secrets";

/** Operator surfaces (issue 11): configuration that refuses plain http, tokens bound to one environment and one origin route, a cheap /ready. */

const deployed = (environment: "staging" | "production", overrides: Record<string, string> = {}) => ({
  ...TEST_SECRETS,
  ENVIRONMENT: environment,
  ORIGIN_URLS: "https://origin.example.com",
  ...overrides,
});

function configIssues(raw: object): string[] {
  try {
    loadConfig(raw);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
}

describe("configuration outside local/test (security)", () => {
  it("security: ORIGIN_URLS, IDP_JWKS_URL and UPSTASH_REDIS_REST_URL must be https", () => {
    for (const environment of ["staging", "production"] as const) {
      expect(configIssues(deployed(environment))).toEqual([]);
      expect(configIssues(deployed(environment, { ORIGIN_URLS: "https://a.example.com,http://b.example.com" }))).toEqual([
        `ORIGIN_URLS: must be https in ${environment}`,
      ]);
      const idp = { IDP_JWKS_URL: "http://idp.example.com/jwks", IDP_ISSUER: "i", IDP_AUDIENCE: "a" };
      expect(configIssues(deployed(environment, idp))).toEqual([`IDP_JWKS_URL: must be https in ${environment}`]);
      const redis = { UPSTASH_REDIS_REST_URL: "http://redis.example.com", UPSTASH_REDIS_REST_TOKEN: "t" };
      expect(configIssues(deployed(environment, redis))).toEqual([`UPSTASH_REDIS_REST_URL: must be https in ${environment}`]);
    }
  });

  it("happy: plain http is fine locally and in tests", () => {
    for (const environment of ["local", "test"]) {
      expect(configIssues({ ...TEST_SECRETS, ENVIRONMENT: environment, ORIGIN_URLS: "http://127.0.0.1:8788" })).toEqual([]);
    }
  });

  it("security: staging and production issue and accept tokens with distinct issuer and audience", () => {
    const staging = loadConfig(deployed("staging"));
    const production = loadConfig(deployed("production"));
    expect(staging.AUTH_ISSUER).not.toBe(production.AUTH_ISSUER);
    expect(staging.AUTH_AUDIENCE).not.toBe(production.AUTH_AUDIENCE);
    // An explicit value must name its environment, so one copied from the other is refused.
    expect(configIssues(deployed("staging", { AUTH_ISSUER: production.AUTH_ISSUER }))).toEqual([
      "AUTH_ISSUER: must name the environment (staging) in staging",
    ]);
    expect(configIssues(deployed("production", { AUTH_AUDIENCE: "edge-rag-api" }))).toHaveLength(1);
  });
});

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
