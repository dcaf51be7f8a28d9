import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * Runs the Vectorize conformance suite against REAL Vectorize indexes through remote bindings.
 * Not part of the default test run (the root vitest.config.ts does not list it). Usage and the
 * one-time index setup: docs/vectorize-conformance.md.
 *
 *   npx vitest run --config test/conformance/vitest.remote.config.ts
 */
const root = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root,
  plugins: [
    cloudflareTest({
      wrangler: { configPath: fileURLToPath(new URL("./wrangler.remote.toml", import.meta.url)) },
      remoteBindings: true,
    }),
  ],
  test: {
    name: "vectorize-remote",
    include: ["test/conformance/remote-vectorize.test.ts"],
    // Real mutations take seconds to become visible; the suite waits through eventually().
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
