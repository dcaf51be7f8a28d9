import { defineConfig } from "vitest/config";
import { buildConsoleAssets } from "./tools/console/build";

// The worker serves the console and /docs from dist/assets (wrangler.toml [assets]); workerd in
// the worker tests, wrangler dev in the e2e tests and the deploy dry-run all read that folder.
await buildConsoleAssets();

// One `vitest run` for the root package. The origin (container/) has its own vitest run.
export default defineConfig({
  test: {
    projects: [
      "./vitest.unit.config.ts",
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
