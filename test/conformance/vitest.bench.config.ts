import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * Runs the local index benchmark inside workerd with the real Durable Object (not part of the
 * default test run):  npx vitest run --config test/conformance/vitest.bench.config.ts
 */
const root = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root,
  plugins: [cloudflareTest({ wrangler: { configPath: `${root}/wrangler.toml` } })],
  test: {
    name: "vectorize-bench",
    include: ["test/conformance/bench-local-vectorize.test.ts"],
    testTimeout: 600_000,
  },
});
