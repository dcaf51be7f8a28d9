#!/usr/bin/env node
// `npx edge-rag …`: runs tools/cli/main.ts with Node >= 22.12 (installed from the npm registry when
// the machine's Node is older) and the project's dependencies. That is why package.json's `engines`
// says Node >= 18, not the toolchain's 22.12: `npx edge-rag` installs this package into npm's npx
// cache on its first run, and npm warns EBADENGINE (twice: the link and its target) whenever the
// running Node is outside `engines` (test/tools/cli-help.test.ts).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runWithNode } from "../bootstrap.mjs";

const here = dirname(fileURLToPath(import.meta.url));
// `node` resolves to Node >= 22 through the PATH runWithNode builds; tsx runs the TypeScript.
runWithNode("node", [join(here, "..", "..", "node_modules", "tsx", "dist", "cli.mjs"), join(here, "main.ts"), ...process.argv.slice(2)]);
