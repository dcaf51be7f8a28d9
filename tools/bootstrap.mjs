#!/usr/bin/env node
// Runs a command with Node >= 22.16 and installed dependencies, whatever Node started it.
//
//   node tools/bootstrap.mjs <command> [args…]
//
// Plain JavaScript on purpose: it must run on the older Node a fresh machine may have.
// When that Node is too old it installs Node 22 from the npm registry (the platform package
// `node-<os>-<arch>` that the `node@22` package itself installs, minus its install script)
// into .cache/node, then puts it first on PATH so that `node`, `npm` and `npx` below use it.
// Dependencies are (re)installed with `npm ci` whenever a lockfile is newer than its install.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MIN_NODE = [22, 16];
const NODE_CACHE = join(ROOT, ".cache", "node");
/** Packages with their own lockfile, installed in this order. */
// tools/openapi-typescript: the generator of the CLI's typed client, with the TypeScript 5 it needs.
const PACKAGES = [ROOT, join(ROOT, "container"), join(ROOT, "tools/openapi-typescript")];

function isRecentEnough(version) {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

/** Returns the directory holding a Node >= 22.16 binary, installing one if needed. */
export function ensureNodeBinDir() {
  if (isRecentEnough(process.version)) return dirname(process.execPath);
  const pkg = `node-${process.platform === "win32" ? "win" : process.platform}-${process.arch}`;
  const binDir = join(NODE_CACHE, "node_modules", pkg, "bin");
  const nodeBin = join(binDir, "node");
  if (existsSync(nodeBin) && isRecentEnough(execFileSync(nodeBin, ["-v"]).toString())) return binDir;
  console.error(`[bootstrap] Node ${process.version} is older than ${MIN_NODE.join(".")}; installing ${pkg}@22 from the npm registry…`);
  mkdirSync(NODE_CACHE, { recursive: true });
  writeFileSync(join(NODE_CACHE, "package.json"), JSON.stringify({ private: true }));
  execFileSync("npm", ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", `${pkg}@^22.16.0`], {
    cwd: NODE_CACHE,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return binDir;
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

/** `npm ci` in every package whose lockfile changed since its last install. */
export function ensureDependencies(env) {
  for (const dir of PACKAGES) {
    const lock = join(dir, "package-lock.json");
    if (!existsSync(lock)) continue;
    if (mtime(join(dir, "node_modules", ".package-lock.json")) >= mtime(lock)) continue;
    console.error(`[bootstrap] installing dependencies in ${dir === ROOT ? "." : dir.slice(ROOT.length + 1)} (npm ci)…`);
    // stdout → stderr: commands like `keys create` keep their stdout for their result.
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: dir, env, stdio: ["ignore", 2, 2] });
  }
}

export function nodeEnv() {
  const binDir = ensureNodeBinDir();
  const env = { ...process.env, PATH: [binDir, join(ROOT, "node_modules", ".bin"), process.env.PATH].join(delimiter) };
  // npm reads its global npmrc from <node prefix>/etc/npmrc. Under the Node we installed that is a
  // file nobody wrote, so keep the machine's (it may hold the registry, proxy or CA settings).
  const machineGlobalConfig = join(dirname(dirname(process.execPath)), "etc", "npmrc");
  if (
    binDir !== dirname(process.execPath) &&
    !env.npm_config_globalconfig &&
    !env.NPM_CONFIG_GLOBALCONFIG &&
    existsSync(machineGlobalConfig)
  ) {
    env.NPM_CONFIG_GLOBALCONFIG = machineGlobalConfig;
  }
  return env;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const [command, ...args] = process.argv.slice(2);
  if (command === "--print-env") {
    // For shells: eval "$(node tools/bootstrap.mjs --print-env)"
    const env = nodeEnv();
    for (const name of ["PATH", "NPM_CONFIG_GLOBALCONFIG"]) if (env[name]) console.log(`export ${name}=${JSON.stringify(env[name])}`);
    process.exit(0);
  }
  if (!command) {
    console.error("usage: node tools/bootstrap.mjs <command> [args…]");
    process.exit(64);
  }
  runWithNode(command, args, { cwd: ROOT });
}

/**
 * Runs `command` with Node >= 22.16 first on PATH and the dependencies installed, and exits with
 * its status. A terminal's Ctrl-C already reaches the child (same process group), so SIGINT is
 * only waited out here (as a shell does); SIGTERM and SIGHUP, sent by PID, are passed on.
 */
export function runWithNode(command, args, options = {}) {
  const env = nodeEnv();
  if (!process.env.BOOTSTRAP_SKIP_INSTALL) ensureDependencies(env);
  const child = spawn(command, args, { cwd: options.cwd ?? process.cwd(), env, stdio: "inherit" });
  process.on("SIGINT", () => {});
  for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 1)));
}
