import { defineConfig } from "vitest/config";

// One `vitest run` for the root package. The origin (container/) has its own vitest run.
export default defineConfig({
  test: {
    projects: [
      "./vitest.worker.config.ts",
      {
        test: {
          name: "tools",
          include: ["test/tools/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
        },
      },
    ],
  },
});
