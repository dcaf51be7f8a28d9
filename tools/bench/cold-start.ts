import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { SourceMap } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { wrangler } from "../stack/wrangler";
import { median } from "./load";

/**
 * Cold start of the production worker, offline: the bundle `wrangler deploy --dry-run --env
 * production` builds (its gzip size is what Cloudflare loads; the budget is test/tools/deploy.test.ts),
 * then `wrangler check startup` on that very bundle, which runs its startup in a local workerd under
 * the V8 profiler and writes a .cpuprofile. Startup CPU = the profile's sampled time minus idle,
 * less the wait before work starts (analyseProfile says why); each sample's function is mapped back
 * through the bundle's source map to the file (and package) it came from, so "zod's schemas" shows
 * up as such rather than as a minified name.
 *
 * What the window holds: workerd compiles every module of the upload when it loads the worker
 * (its legacy module registry), before wrangler starts the profiler, so the profile is the module's
 * instantiation and top level (and the lazy compiling of the functions those call), not the parse
 * of the bundle's bytes.
 *
 * Failure modes: a wrangler failure rejects (the benchmark notes it and goes on). Takes ~5–20 s.
 * Local CPUs differ from Cloudflare's: compare runs with each other, not with the platform's limit.
 */
/**
 * Bindings enough to build the production services when the built bundle runs in Node (the bench's
 * probes, the deploy test): nothing their requests reach calls one.
 */
export const BUNDLE_PROBE_BINDINGS = {
  ORIGIN_URLS: "https://origin.example.com",
  ORIGIN_JWT_SECRET: "o".repeat(32),
  AUTH_JWT_SECRET: "a".repeat(32),
  EMBEDDING_DIMENSIONS: "768",
  VECTORIZE: {},
  AI: {},
};

/**
 * A built bundle as Node can import it (the bench's probes, the deploy test): its
 * `cloudflare:workers` import, which only workerd provides (the Durable Object base class the
 * production entry's TenantData extends), is pointed at a stand-in. No probe's request reaches an object.
 */
export function nodeImportableBundle(code: string): string {
  const stub = `data:text/javascript,${encodeURIComponent("export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }")}`;
  return code.replaceAll(/(["'])cloudflare:workers\1/g, JSON.stringify(stub));
}

export interface ColdStartFigures {
  bundleBytes: number;
  gzipBytes: number;
  /** Sampled time minus idle, from the profile, less `waitMs`. */
  startupCpuMs: number;
  /** What wrangler counts and this does not: the wait before the first sample of work (analyseProfile). */
  waitMs: number;
  /** What `wrangler check startup` printed as "Active" (same measure, its own rounding). */
  wranglerActiveMs: number | null;
  profileMs: number;
  samples: number;
  top: Array<{ functionName: string; where: string; selfMs: number }>;
  /** Self time by package (node_modules/<name>) or by the project's own folder. */
  byPackage: Array<{ name: string; selfMs: number }>;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** node_modules/zod/v4/core/core.js → "zod"; ../src/app.ts → "src/". */
export function packageOf(source: string): string {
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (modules) return modules[1]!;
  const own = /(?:^|\/)(src|container|tools)\//.exec(source);
  return own ? `${own[1]}/` : source;
}

/**
 * A sample is charged the time since the one before it (as wrangler's "Active" does), except the
 * first sample of work after an idle one (or at the start), which is charged one sampling interval
 * (the median gap, at most V8's default of 1 ms, which wrangler keeps). The profile holds no sample
 * while workerd waits for the request (its trip from wrangler through miniflare's entry worker), so
 * that first sample carries the wait, which is not the worker's CPU: charged, as "Active" does, it
 * adds 0 to ~20 ms by chance on a quiet machine (the two groups of runs in README, "Startup CPU")
 * and more under load; an empty worker's "Active" was 0–85 ms at load average ~15.
 */
export function analyseProfile(profile: CpuProfile, map: SourceMap | null, bundleName: string) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const isIdle = (id: number | undefined) => id !== undefined && nodes.get(id)?.callFrame.functionName === "(idle)";
  const interval = Math.min(median(profile.timeDeltas), 1000);
  const self = new Map<number, number>();
  let waitUs = 0;
  for (const [index, id] of profile.samples.entries()) {
    let us = profile.timeDeltas[index] ?? 0;
    if (!isIdle(id) && (index === 0 || isIdle(profile.samples[index - 1])) && us > interval) {
      waitUs += us - interval;
      us = interval;
    }
    self.set(id, (self.get(id) ?? 0) + us);
  }
  let idleUs = 0;
  let totalUs = 0;
  const functions = new Map<string, { functionName: string; where: string; selfMs: number }>();
  const packages = new Map<string, number>();
  for (const [id, us] of self) {
    totalUs += us;
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const inBundle = frame.url.endsWith(bundleName);
    let where = frame.url ? `${frame.url.split("/").at(-1)}:${frame.lineNumber + 1}` : "(native)";
    let pkg = inBundle ? "(bundle, unmapped)" : frame.url ? frame.url.split("/").at(-1)! : "(runtime)";
    if (inBundle && frame.lineNumber < 0) where = "(bundle top level)";
    if (map && inBundle && frame.lineNumber >= 0) {
      const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string; originalLine?: number };
      if (entry.originalSource) {
        const source = entry.originalSource.replace(/^(\.\.\/)+/, "").replace(/^.*?(node_modules\/|src\/)/, "$1");
        where = `${source}:${(entry.originalLine ?? 0) + 1}`;
        pkg = packageOf(source);
      } else {
        where = "(bundle, unmapped)";
      }
    }
    // wrangler check startup's own harness script (a generated name): not the bundle's code.
    if (!inBundle && /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(frame.url.split("/").at(-1) ?? "")) {
      pkg = "(check startup harness)";
      where = `(check startup harness):${frame.lineNumber + 1}`;
    }
    if (frame.functionName.startsWith("(")) pkg = frame.functionName; // (garbage collector), (program)
    const name = frame.functionName || "(top level)";
    const key = `${name}\0${where}`;
    const entry = functions.get(key) ?? { functionName: name, where, selfMs: 0 };
    entry.selfMs += us / 1000;
    functions.set(key, entry);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us / 1000);
  }
  return {
    startupCpuMs: (totalUs - idleUs) / 1000,
    waitMs: waitUs / 1000,
    profileMs: (profile.endTime - profile.startTime) / 1000,
    samples: profile.samples.length,
    top: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, 10),
    byPackage: [...packages].map(([name, selfMs]) => ({ name, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export async function measureColdStart(profileFile: string): Promise<ColdStartFigures> {
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-cold-start-"));
  try {
    // One build, two shapes: the files (size, source map) and the upload bundle check startup reads.
    const bundleFile = join(dir, "worker.bundle");
    const outdir = join(dir, "out");
    await wrangler(["deploy", "--dry-run", "--env", "production", "--outdir", outdir, "--outfile", bundleFile]);
    const script = readdirSync(outdir).find((file) => file.endsWith(".js"));
    if (!script) throw new Error("wrangler deploy --dry-run wrote no .js bundle");
    const code = readFileSync(join(outdir, script));
    const output = await wrangler(["check", "startup", "--worker", bundleFile, "--outfile", profileFile]);
    const active = /Active:\s*([\d.]+)\s*ms/.exec(output);
    const profile = JSON.parse(readFileSync(profileFile, "utf8")) as CpuProfile;
    let map: SourceMap | null = null;
    try {
      map = new SourceMap(JSON.parse(readFileSync(join(outdir, `${script}.map`), "utf8")));
    } catch {
      map = null;
    }
    return {
      bundleBytes: statSync(join(outdir, script)).size,
      gzipBytes: gzipSync(code).length,
      wranglerActiveMs: active ? Number(active[1]) : null,
      ...analyseProfile(profile, map, script),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
