import { defineConfig } from "vitest/config";

/**
 * The first-minute tests: modules that need no binding, no origin and no Redis (fusion, filter
 * planning, prose, the answer guard, cache keys, configuration, schemas, SSE, errors, the CLI's
 * arguments, the benchmark's arithmetic), run in Node with no global setup: `npm run test:unit`.
 */
export default defineConfig({
  test: {
    name: "unit",
    include: ["test/unit/**/*.test.ts"],
    environment: "node",
    // The answer guard's fast-check properties render a few hundred Markdown documents: seconds on an
    // idle machine, more on a loaded 2-core one. A slow run is not a failure here; benchmarks time things.
    testTimeout: 30_000,
  },
});
