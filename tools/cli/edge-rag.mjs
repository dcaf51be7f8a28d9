#!/usr/bin/env node
// `npx edge-rag …`: runs tools/cli/main.ts with Node >= 22.12 (installed from the npm registry when
// the machine's Node is older) and the project's dependencies.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runWithNode } from "../bootstrap.mjs";

const here = dirname(fileURLToPath(import.meta.url));
// `node` resolves to Node >= 22 through the PATH runWithNode builds; tsx runs the TypeScript.
runWithNode("node", [join(here, "..", "..", "node_modules", "tsx", "dist", "cli.mjs"), join(here, "main.ts"), ...process.argv.slice(2)]);
