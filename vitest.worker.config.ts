import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { IDP_AUDIENCE, IDP_ISSUER } from "./test/worker/identity-provider";
import { TEST_SECRETS } from "./test/worker/secrets";

/**
 * Worker tests run inside workerd with the real local bindings of wrangler.toml (D1 with the
 * migrations applied, KV, Queues, the Durable Object vector index, the rate-limiting bindings).
 * The global setup starts the real origin, redis-server and the Upstash bridge on free ports and
 * provides their URLs here.
 */
export default defineConfig({
  plugins: [
    cloudflareTest(async ({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          ENVIRONMENT: "test",
          // Suites reuse one key (and tenant) for many queries; rate-limit tests set their own limits.
          RATE_LIMIT_QUERY: "2000/60s",
          TENANT_RATE_LIMIT_QUERY: "5000/60s",
          // Every test request comes from the same (unknown) IP, and security suites fail auth on purpose.
          RATE_LIMIT_AUTH_FAILURES_IP: "100000/60s",
          // Webhook retries in seconds, not minutes: 1 s, 2 s, 4 s between a delivery's four attempts.
          WEBHOOK_RETRY_BASE_SECONDS: "1",
          WEBHOOK_MAX_ATTEMPTS: "4",
          WEBHOOK_TIMEOUT_MS: "5000",
          ...TEST_SECRETS,
          ORIGIN_URLS: inject<string>("originUrl"),
          UPSTASH_REDIS_REST_URL: inject<string>("upstashUrl"),
          UPSTASH_REDIS_REST_TOKEN: inject<string>("upstashToken"),
          IDP_JWKS_URL: inject("idp").jwksUrl,
          IDP_ISSUER,
          IDP_AUDIENCE,
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
        },
      },
    })),
  ],
  test: {
    name: "worker",
    // test/security: the attack suites (black-box, on the same real local stack).
    include: ["test/worker/**/*.test.ts", "test/security/**/*.test.ts"],
    globalSetup: ["./test/worker/global-setup.ts"],
    setupFiles: ["./test/worker/apply-migrations.ts", "./test/worker/clear-of-window-edge.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
