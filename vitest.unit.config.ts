import { defineConfig } from "vitest/config";

/**
 * The first-minute tests: modules that need no binding, no origin and no Redis (fusion, filter
 * planning, prose, the answer guard, cache keys, configuration, schemas, SSE, errors, the CLI's
 * arguments, the benchmark's arithmetic), run in Node with no global setup: `npm run test:unit`.
 */
export default defineConfig({
  test: {
    name: "unit",
    // The answer guard's test stays beside the worker suites; it needs no binding either.
    include: ["test/unit/**/*.test.ts", "test/worker/answer-guard.test.ts"],
    environment: "node",
  },
});
