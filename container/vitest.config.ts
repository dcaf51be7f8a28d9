import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real processes and the real USE model: generous per-test time, and never retried.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
