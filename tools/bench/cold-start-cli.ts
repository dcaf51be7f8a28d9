import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { ROOT } from "../stack/paths";
import { wrangler } from "../stack/wrangler";
import { type ColdStartFigures, measureColdStart } from "./cold-start";

/**
 * `npm run bench:cold-start [-- --runs 3] [--bytes]`: the production worker's cold start alone
 * (tools/bench/cold-start.ts), measured `--runs` times; prints the median of each figure, since one
 * run on a shared machine is noise. `--bytes` also builds the bundle once more with esbuild's
 * metafile and prints its minified bytes by package, and the CPU time (process.cpuUsage: user +
 * system, which unlike the profile's wall-clock samples does not grow while other processes hold
 * the cores) that Node takes to load it, median of 10 fresh processes: a steadier figure for
 * comparing two builds on a busy machine; Node is not workerd, so compare it only with itself.
 *
 * `--against <git ref>` compares instead: it builds that ref's worker (its src/ and wrangler.toml,
 * this checkout's node_modules) and this tree's, then measures them in turn, `--runs` times each
 * (`wrangler check startup`, and Node's load CPU), so both see the same load on the machine, and
 * counts the zod instances each builds while loading (a count: the same on an idle or busy machine).
 */
const { values } = parseArgs({
  options: { runs: { type: "string", default: "3" }, bytes: { type: "boolean", default: false }, against: { type: "string" } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** CPU time (user + system) of a fresh Node process importing the bundle, in ms. */
function nodeLoadCpuMs(script: string): number {
  const probe = `const t = process.cpuUsage(); await import(${JSON.stringify(script)}); const d = process.cpuUsage(t); console.log((d.user + d.system) / 1000);`;
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8" }));
}

/**
 * Zod instances (schemas and checks) a fresh Node process builds while importing the bundle: each
 * gets its `_zod` internals through Object.defineProperty, counted here. Unlike a CPU time, this
 * figure is the same on a busy machine; it is most of what the bundle's top level does.
 */
function nodeLoadZodInstances(script: string): number {
  const probe = `let n = 0; const define = Object.defineProperty;
    Object.defineProperty = function (o, p, d) { if (p === "_zod") n++; return define.call(this, o, p, d); };
    await import(${JSON.stringify(script)}); console.log(n);`;
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8" }));
}

/** Builds the production worker of `config` (a wrangler.toml); returns its upload bundle, its script (.mjs) and gzip size. */
async function build(config: string, out: string) {
  const outdir = join(out, "out");
  const bundle = join(out, "worker.bundle");
  await wrangler(["deploy", "--dry-run", "--env", "production", "--config", config, "--outdir", outdir, "--outfile", bundle]);
  const script = join(out, "worker.mjs"); // .mjs: outside the project nothing says the bundle is an ES module
  copyFileSync(join(outdir, readdirSync(outdir).find((file) => file.endsWith(".js"))!), script);
  return { bundle, script, gzipBytes: gzipSync(readFileSync(script)).length };
}

async function compare(ref: string, dir: string) {
  // The ref's sources beside links to this checkout's dependencies and built assets.
  const tree = join(dir, "ref");
  mkdirSync(tree);
  execFileSync("sh", ["-c", `git -C "${ROOT}" archive "${ref}" src wrangler.toml | tar -x -C "${tree}"`]);
  for (const shared of ["node_modules", "dist", "package.json", "tsconfig.json"]) symlinkSync(join(ROOT, shared), join(tree, shared));
  const builds = [
    { name: ref, ...(await build(join(tree, "wrangler.toml"), join(dir, "a"))), active: [] as number[], node: [] as number[] },
    { name: "this tree", ...(await build(join(ROOT, "wrangler.toml"), join(dir, "b"))), active: [] as number[], node: [] as number[] },
  ];
  for (let run = 1; run <= runs; run++)
    for (const one of builds) {
      const output = await wrangler(["check", "startup", "--worker", one.bundle, "--outfile", join(dir, "p.cpuprofile")]);
      one.active.push(Number(/Active:\s*([\d.]+)\s*ms/.exec(output)?.[1]));
      one.node.push(nodeLoadCpuMs(one.script));
    }
  for (const { name, gzipBytes, script, active, node } of builds)
    console.log(
      `${name.padEnd(12)} ${kib(gzipBytes)} KiB gzip; wrangler check startup: median ${median(active).toFixed(1)} ms, min ${Math.min(...active).toFixed(1)}; ` +
        `Node load CPU: median ${median(node).toFixed(1)} ms, min ${Math.min(...node).toFixed(1)} (${runs} runs each, in turn); ` +
        `zod instances at load: ${nodeLoadZodInstances(script)}`,
    );
}

const dir = mkdtempSync(join(tmpdir(), "edge-rag-cold-start-cli-"));
try {
  if (values.against) await compare(values.against, dir);
  else await coldStart(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function coldStart(dir: string) {
  if (values.bytes) {
    const metafile = join(dir, "meta.json");
    const outdir = join(dir, "meta-out");
    await wrangler(["deploy", "--dry-run", "--env", "production", "--outdir", outdir, "--metafile", metafile]);
    const meta = JSON.parse(readFileSync(metafile, "utf8")) as {
      outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
    };
    const byPackage = new Map<string, number>();
    for (const output of Object.values(meta.outputs))
      for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
        const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? (input.startsWith("src/") ? "src/" : input);
        byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
      }
    console.log("minified bytes by package (esbuild metafile, before gzip):");
    for (const [name, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 20))
      console.log(`  ${name.padEnd(40)} ${kib(bytes).padStart(7)} KiB`);

    const script = join(dir, "worker.mjs");
    copyFileSync(join(outdir, readdirSync(outdir).find((file) => file.endsWith(".js"))!), script);
    const loads = Array.from({ length: 10 }, () => nodeLoadCpuMs(script));
    console.log(`Node loading the bundle: ${median(loads).toFixed(1)} ms CPU (median of 10; min ${Math.min(...loads).toFixed(1)})`);
    console.log(`zod instances (schemas and checks) built while loading it: ${nodeLoadZodInstances(script)}\n`);
  }

  const figures: ColdStartFigures[] = [];
  for (let run = 1; run <= runs; run++) {
    const result = await measureColdStart(join(dir, `startup-${run}.cpuprofile`));
    console.log(
      `run ${run}: ${kib(result.bundleBytes)} KiB, ${kib(result.gzipBytes)} KiB gzip, startup CPU ${result.startupCpuMs.toFixed(1)} ms (wrangler: ${result.wranglerActiveMs ?? "?"} ms)`,
    );
    figures.push(result);
  }
  const last = figures.at(-1)!;
  console.log(`\nmedian of ${runs}: ${kib(last.bundleBytes)} KiB, ${kib(last.gzipBytes)} KiB gzip`);
  console.log(`startup CPU ${median(figures.map((f) => f.startupCpuMs)).toFixed(1)} ms`);
  const names = new Set(figures.flatMap((f) => f.byPackage.map((p) => p.name)));
  const byPackage = [...names]
    .map((name) => ({ name, selfMs: median(figures.map((f) => f.byPackage.find((p) => p.name === name)?.selfMs ?? 0)) }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, 10);
  console.log("self time by package (median per package):");
  for (const { name, selfMs } of byPackage) console.log(`  ${name.padEnd(40)} ${selfMs.toFixed(1).padStart(6)} ms`);
  console.log("top functions (last run):");
  for (const { functionName, where, selfMs } of last.top) console.log(`  ${selfMs.toFixed(1).padStart(6)} ms  ${functionName}  ${where}`);
}
