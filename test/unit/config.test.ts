import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import { TEST_SECRETS } from "../worker/secrets";

/** The worker's configuration, validated once (operator surfaces, issue 11): plain http refused outside local/test, tokens bound to one environment. */

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
