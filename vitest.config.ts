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
          // GitHub's workflow parser imports its JSON schema without an import attribute: let Vite load it.
          server: { deps: { inline: ["@actions/workflow-parser"] } },
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.e2e.test.ts"],
          environment: "node",
          // One stack, one file, in order.
          fileParallelism: false,
          sequence: { concurrent: false },
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
