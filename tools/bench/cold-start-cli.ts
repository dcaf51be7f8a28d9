import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { ROOT } from "../stack/paths";
import { wrangler } from "../stack/wrangler";
import { analyseProfile, BUNDLE_PROBE_BINDINGS, type ColdStartFigures, measureColdStart, nodeImportableBundle } from "./cold-start";
import { median } from "./load";

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
 * counts the zod instances each builds while loading and on its first requests (nodeZodInstances).
 *
 * Startup CPU is read from the profile as tools/bench/cold-start.ts's analyseProfile does: wrangler's
 * "Active" less the wait for the request that it counts as work; "Active" is printed beside it.
 */
const { values } = parseArgs({
  options: { runs: { type: "string", default: "3" }, bytes: { type: "boolean", default: false }, against: { type: "string" } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");

const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** Runs `probe`, an ES module's body, in a fresh Node process; returns what it printed. */
const runProbe = (probe: string) => execFileSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8" });

const PROBE_ENV = JSON.stringify(BUNDLE_PROBE_BINDINGS);
/** A cold isolate's first query, without a credential: a 401 once the services (and the configuration) are built. */
const FIRST_QUERY = `if ((await worker.fetch(new Request("http://localhost/v1/query", { method: "POST", headers: { "content-type": "application/json" }, body: '{"query":"q"}' }), ${PROBE_ENV}, { waitUntil() {} })).status !== 401) throw new Error("POST /v1/query: expected 401");`;

/**
 * CPU time (user + system), in ms, of a fresh Node process importing the bundle and then running
 * `then` (FIRST_QUERY: what a cold isolate spends before its first answer, where deferring work to
 * the first request does not count as saving it).
 */
function nodeCpuMs(script: string, then = ""): number {
  return Number(
    runProbe(`const t = process.cpuUsage(); const worker = (await import(${JSON.stringify(script)})).default; ${then}
    const d = process.cpuUsage(t); console.log((d.user + d.system) / 1000);`),
  );
}

/**
 * Zod instances (schemas and checks) a fresh Node process builds while importing the bundle, then
 * on its first POST /v1/query (no credential: a 401 once the services, and so the configuration,
 * are built), then on its first GET /v1/me (a route group built on first use): each instance gets
 * its `_zod` internals through Object.defineProperty, counted here. Unlike a CPU time, these are
 * the same on a busy machine; building schemas is most of what the bundle's top level does.
 */
function nodeZodInstances(script: string): { load: number; firstQuery: number; firstOther: number } {
  const probe = `let n = 0; const define = Object.defineProperty;
    Object.defineProperty = function (o, p, d) { if (p === "_zod") n++; return define.call(this, o, p, d); };
    const worker = (await import(${JSON.stringify(script)})).default;
    const load = n;
    ${FIRST_QUERY}
    const firstQuery = n - load;
    if ((await worker.fetch(new Request("http://localhost/v1/me"), ${PROBE_ENV}, { waitUntil() {} })).status !== 401) throw new Error("GET /v1/me: expected 401");
    console.log(JSON.stringify({ load, firstQuery, firstOther: n - load - firstQuery }));`;
  return JSON.parse(runProbe(probe));
}

const zodFigures = ({ load, firstQuery, firstOther }: ReturnType<typeof nodeZodInstances>) =>
  `zod instances at load ${load}, + first POST /v1/query ${firstQuery}, + then first GET /v1/me ${firstOther}`;

/** Builds the production worker of `config` (a wrangler.toml); returns its upload bundle, its script (.mjs) and gzip size. */
async function build(config: string, out: string) {
  const outdir = join(out, "out");
  const bundle = join(out, "worker.bundle");
  await wrangler(["deploy", "--dry-run", "--env", "production", "--config", config, "--outdir", outdir, "--outfile", bundle]);
  const script = join(out, "worker.mjs"); // .mjs: outside the project nothing says the bundle is an ES module
  const code = readFileSync(join(outdir, readdirSync(outdir).find((file) => file.endsWith(".js"))!));
  writeFileSync(script, nodeImportableBundle(code.toString("utf8")));
  return { bundle, script, gzipBytes: gzipSync(code).length };
}

async function compare(ref: string, dir: string) {
  // The ref's sources beside links to this checkout's dependencies and built assets.
  const tree = join(dir, "ref");
  mkdirSync(tree);
  execFileSync("sh", ["-c", `git -C "${ROOT}" archive "${ref}" src wrangler.toml | tar -x -C "${tree}"`]);
  for (const shared of ["node_modules", "dist", "package.json", "tsconfig.json"]) symlinkSync(join(ROOT, shared), join(tree, shared));
  const measured = async (name: string, config: string, out: string) => ({
    name,
    ...(await build(config, out)),
    active: [] as number[],
    startup: [] as number[],
    node: [] as number[],
    firstQuery: [] as number[],
  });
  const builds = [
    await measured(ref, join(tree, "wrangler.toml"), join(dir, "a")),
    await measured("this tree", join(ROOT, "wrangler.toml"), join(dir, "b")),
  ];
  for (let run = 1; run <= runs; run++)
    for (const one of builds) {
      const profile = join(dir, "p.cpuprofile");
      const output = await wrangler(["check", "startup", "--worker", one.bundle, "--outfile", profile]);
      one.active.push(Number(/Active:\s*([\d.]+)\s*ms/.exec(output)?.[1]));
      one.startup.push(analyseProfile(JSON.parse(readFileSync(profile, "utf8")), null, "index.js").startupCpuMs);
      one.node.push(nodeCpuMs(one.script));
      one.firstQuery.push(nodeCpuMs(one.script, FIRST_QUERY));
    }
  for (const { name, gzipBytes, script, active, startup, node, firstQuery } of builds)
    console.log(
      `${name.padEnd(12)} ${kib(gzipBytes)} KiB gzip; startup CPU: median ${median(startup).toFixed(1)} ms, min ${Math.min(...startup).toFixed(1)} ` +
        `(wrangler's Active: median ${median(active).toFixed(1)} ms, min ${Math.min(...active).toFixed(1)}); ` +
        `Node load CPU: median ${median(node).toFixed(1)} ms, min ${Math.min(...node).toFixed(1)}; ` +
        `load + first POST /v1/query: median ${median(firstQuery).toFixed(1)} ms, min ${Math.min(...firstQuery).toFixed(1)} (${runs} runs each, in turn); ` +
        zodFigures(nodeZodInstances(script)),
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
    writeFileSync(
      script,
      nodeImportableBundle(readFileSync(join(outdir, readdirSync(outdir).find((file) => file.endsWith(".js"))!), "utf8")),
    );
    const loads = Array.from({ length: 10 }, () => nodeCpuMs(script));
    console.log(`Node loading the bundle: ${median(loads).toFixed(1)} ms CPU (median of 10; min ${Math.min(...loads).toFixed(1)})`);
    console.log(`${zodFigures(nodeZodInstances(script))} (schemas and checks)\n`);
  }

  const figures: ColdStartFigures[] = [];
  for (let run = 1; run <= runs; run++) {
    const result = await measureColdStart(join(dir, `startup-${run}.cpuprofile`));
    console.log(
      `run ${run}: ${kib(result.bundleBytes)} KiB, ${kib(result.gzipBytes)} KiB gzip, startup CPU ${result.startupCpuMs.toFixed(1)} ms (wrangler's Active: ${result.wranglerActiveMs ?? "?"} ms, of it ${result.waitMs.toFixed(1)} ms waiting for the request)`,
    );
    figures.push(result);
  }
  const last = figures.at(-1)!;
  console.log(`\nmedian of ${runs}: ${kib(last.bundleBytes)} KiB, ${kib(last.gzipBytes)} KiB gzip`);
  console.log(
    `startup CPU ${median(figures.map((f) => f.startupCpuMs)).toFixed(1)} ms (wrangler's Active: ${median(figures.map((f) => f.wranglerActiveMs ?? Number.NaN)).toFixed(1)} ms)`,
  );
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
