#!/usr/bin/env node
// `npx edge-rag …`: runs tools/cli/main.ts with Node >= 22.12 (installed from the npm registry when
// the machine's Node is older) and the project's dependencies.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDependencies, nodeEnv } from "../bootstrap.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const env = nodeEnv();
ensureDependencies(env);
// `node` resolves to Node >= 22 through the PATH nodeEnv() built; the tsx loader runs the TypeScript.
const tsx = join(root, "node_modules", "tsx", "dist", "cli.mjs");
const child = spawn("node", [tsx, join(here, "main.ts"), ...process.argv.slice(2)], { env, stdio: "inherit" });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
