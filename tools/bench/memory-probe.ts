/**
 * Where workerd's memory goes (`npm run bench:memory`): starts a local stack on free ports (its
 * own state directory, removed at the end), then drives one kind of load at a time, each kind
 * `--rounds` times in a row, and after each phase prints workerd's RSS (anonymous and file-backed)
 * and, through workerd's V8 inspector, the JS heap of each of its isolates: the
 * worker's own and the local simulators' (D1, KV, Cache, Queues; none of them exists in
 * production). RSS that grows while no isolate's heap does is native memory: SQLite page caches,
 * allocator arenas, buffers of the runtime itself.
 *
 * Phases: health (GET /health), ingest (new documents each round), search and query with
 * `cache: false` (every request embeds and retrieves), hits (a few questions asked again: the
 * query cache answers), and idle (nothing, to see whether anything is given back).
 *
 * Linux only (/proc). Usage: npm run bench:memory -- [--docs 300] [--requests 600]
 *   [--concurrency 16] [--rounds 3] [--phases health,ingest,search,query,hits,idle, or e.g. ingest:1,search:8] [--json out.json]
 *   [--log .cache/memory-probe.log]. Run one stack per checkout at a time: starting a stack rebuilds
 * the console's assets, which makes every running `wrangler dev` of the checkout restart workerd.
 * `X_LOCAL_OBSERVABILITY=false` (a wrangler setting) turns off wrangler's local trace collector.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "../stack/paths";
import type { Stack } from "../stack/stack";
import { readDocuments, readQuestions, scifactDir } from "./corpus";
import { type HeapReading, heapSnapshot, readHeaps } from "./devtools";
import { measureIngest } from "./ingestion";
import { runLoad } from "./load";
import { startMeasuredStack } from "./local-stack";
import { hasInspector, processesNamed, processMemory } from "./memory";
import { primeCache } from "./queries";
import { indexStats } from "./storage";
import { jsonPost, type Target } from "./target";

const PHASES = ["health", "ingest", "search", "query", "hits", "idle"] as const;
type Phase = (typeof PHASES)[number];

interface Row {
  phase: string;
  requests: number;
  seconds: number;
  errors: number;
  /** A new pid means wrangler restarted the runtime (its memory starts over). */
  runtimePid: number | undefined;
  rss: number;
  rssAnon: number;
  rssFile: number;
  /** wrangler's dev proxy (the other workerd). */
  proxyRss: number;
  heaps: HeapReading[] | null;
}

const MiB = 1024 ** 2;
/** src/vector/local-vector-index.ts's estimate of a vector's bookkeeping besides its values (not imported: that module needs workerd). */
const PER_VECTOR_OVERHEAD_BYTES = 256;

function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}
const mib = (bytes: number) => (bytes / MiB).toFixed(1);

function options() {
  const { values } = parseArgs({
    options: {
      docs: { type: "string", default: "300" },
      requests: { type: "string", default: "600" },
      concurrency: { type: "string", default: "16" },
      rounds: { type: "string", default: "3" },
      phases: { type: "string", default: PHASES.join(",") },
      json: { type: "string" },
      log: { type: "string", default: join(ROOT, ".cache", "memory-probe.log") },
      data: { type: "string" },
    },
  });
  // `search:8` runs that phase 8 times in a row, whatever --rounds says.
  const phases = values.phases.split(",").map((item) => {
    const [name, rounds] = item.trim().split(":") as [Phase, string | undefined];
    if (!PHASES.includes(name)) throw new Error(`unknown phase ${name} (one of ${PHASES.join(", ")})`);
    return { name, rounds: rounds === undefined ? Number(values.rounds) : Number(rounds) };
  });
  return {
    docs: Number(values.docs),
    requests: Number(values.requests),
    concurrency: Number(values.concurrency),
    rounds: Number(values.rounds),
    phases,
    json: values.json,
    log: values.log,
    data: values.data,
  };
}

/** The worker's own isolate is `core:user:<name>`; miniflare's helpers are named so too. */
const isWorkerIsolate = (heap: HeapReading) =>
  heap.isolate.startsWith("core:user:") && !heap.isolate.includes("dev-registry") && !heap.isolate.includes("miniflare");

/** The worker's isolate (`core:user:<name>`), the simulators' together, and the biggest of them. */
function heapSummary(heaps: HeapReading[] | null): string {
  if (!heaps) return "no inspector";
  const worker = heaps.filter(isWorkerIsolate);
  const others = heaps.filter((h) => !worker.includes(h)).sort((a, b) => b.used - a.used);
  const sum = (list: HeapReading[]) => list.reduce((total, h) => total + h.used, 0);
  return `worker ${mib(sum(worker))}, ${others.length} others ${mib(sum(others))} (${others
    .slice(0, 3)
    .map((h) => `${h.isolate} ${mib(h.used)}`)
    .join(", ")})`;
}

async function main() {
  const opts = options();
  const dataDir = scifactDir(opts.data);
  const documents = await readDocuments(dataDir, opts.docs);
  const questions = readQuestions(dataDir);
  mkdirSync(join(ROOT, ".cache"), { recursive: true });
  const stateDir = mkdtempSync(join(ROOT, ".cache", "memory-probe-"));
  let stack: Stack | undefined;
  let closeLog: (() => void) | undefined;
  const stop = async () => {
    await stack?.stop();
    closeLog?.();
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void stop().finally(() => process.exit(130)));
  try {
    process.stderr.write("starting a local stack…\n");
    const started = await startMeasuredStack({ stateDir, logFile: opts.log, tenant: "probe" });
    ({ stack, closeLog } = started);
    const { key } = started;
    const target: Target = { url: stack.url, key };
    const worker = stack.processes().find((p) => p.name === "worker")!;
    const workerd = () => processesNamed(worker.pid, "workerd");

    const rows: Row[] = [];
    // wrangler dev runs two workerd processes: the runtime that serves the worker and the
    // simulators (started with an inspector), and wrangler's own dev proxy in front of it.
    const record = async (phase: string, requests: number, seconds: number, errors: number) => {
      const pids = workerd();
      const runtimePid = pids.find(hasInspector);
      const runtime = runtimePid ? processMemory(runtimePid) : { rss: 0, anon: 0, file: 0 };
      const proxy = pids.filter((pid) => pid !== runtimePid).reduce((sum, pid) => sum + processMemory(pid).rss, 0);
      const heaps = runtimePid ? await readHeaps(runtimePid).catch(() => null) : null;
      const restarted = rows.length > 0 && rows.at(-1)!.runtimePid !== runtimePid;
      const row: Row = {
        phase,
        requests,
        seconds,
        errors,
        runtimePid,
        rss: runtime.rss,
        rssAnon: runtime.anon,
        rssFile: runtime.file,
        proxyRss: proxy,
        heaps,
      };
      rows.push(row);
      const previous = rows.at(-2);
      const delta = restarted
        ? " (runtime restarted)"
        : previous
          ? ` (${runtime.rss >= previous.rss ? "+" : ""}${mib(runtime.rss - previous.rss)})`
          : "";
      process.stdout.write(
        `${phase.padEnd(10)} ${String(requests).padStart(5)} req ${seconds.toFixed(1).padStart(6)} s ${String(errors).padStart(3)} err | runtime RSS ${mib(runtime.rss)} MiB${delta} (anon ${mib(runtime.anon)}, file ${mib(runtime.file)}), proxy ${mib(proxy)} | JS heap used, MiB: ${heapSummary(heaps)}\n`,
      );
    };
    const load = async (phase: string, request: (i: number) => Promise<Response>) => {
      const run = await runLoad({ concurrency: opts.concurrency, count: opts.requests, request });
      const errors = run.samples.filter((s) => s.status === 0 || s.status >= 400).length;
      await record(phase, run.samples.length, run.seconds, errors);
    };

    process.stdout.write(
      `memory probe: ${opts.docs} documents per ingest, ${opts.requests} requests per phase at concurrency ${opts.concurrency}, phases ${opts.phases.map((p) => `${p.name}×${p.rounds}`).join(", ")}\n`,
    );
    await record("started", 0, 0, 0);
    const warm = questions.slice(0, 20);
    let asked = 0;
    for (const { name: phase, rounds } of opts.phases)
      for (let round = 1; round <= rounds; round++) {
        const name = `${phase}#${round}`;
        if (phase === "health") await load(name, () => fetch(`${target.url}/health`, { signal: AbortSignal.timeout(60_000) }));
        else if (phase === "ingest") {
          // New ids each round: a resent unchanged document is a no-op and would measure nothing.
          const copies = documents.map((doc) => ({ ...doc, id: `${doc.id}.r${round}` }));
          const figures = await measureIngest(target, copies, { batchSize: 100, collection: "probe" });
          await record(name, figures.documents, figures.seconds, figures.failed);
        } else if (phase === "search" || phase === "query") {
          const path = phase === "query" ? "/v1/query" : "/v1/search";
          // Questions not asked before in this run, so nothing repeats across rounds either.
          const base = asked;
          asked += opts.requests;
          await load(name, (i) => jsonPost(target, path, { query: questions[(base + i) % questions.length], cache: false }));
        } else if (phase === "hits") {
          if (round === 1) await primeCache(target, warm);
          await load(name, (i) => jsonPost(target, i % 2 ? "/v1/query" : "/v1/search", { query: warm[i % warm.length] }));
        } else {
          const started = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 30_000));
          await record(name, 0, (performance.now() - started) / 1000, 0);
        }
      }
    // What the data itself weighs: the vectors the local index holds in the worker isolate's
    // memory, and the simulators' files (their SQLite databases, the trace collector's included).
    const stats = await indexStats(target.url, target.key);
    const vectorBytes = stats.chunks * (stats.vector_dimensions * 4 + PER_VECTOR_OVERHEAD_BYTES);
    const v3 = join(stateDir, "v3");
    const onDisk = existsSync(v3)
      ? readdirSync(v3, { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => ({ name: entry.name, bytes: bytesUnder(join(v3, entry.name)) }))
      : [];
    process.stdout.write(
      `vector index: ${stats.chunks} vectors × ${stats.vector_dimensions} dims × 4 B (+${PER_VECTOR_OVERHEAD_BYTES} B each) ≈ ${mib(vectorBytes)} MiB in the worker isolate\n` +
        `simulators' files (MiB): ${onDisk.map((entry) => `${entry.name} ${mib(entry.bytes)}`).join(", ")}\n`,
    );
    // Last, since it pauses the isolate and briefly costs memory itself: the worker's live heap.
    const runtimePid = workerd().find(hasInspector);
    const workerIsolate = rows.at(-1)?.heaps?.find(isWorkerIsolate)?.isolate;
    const snapshot =
      runtimePid && workerIsolate
        ? await heapSnapshot(runtimePid, workerIsolate).catch((error) => {
            process.stdout.write(`heap snapshot failed: ${error instanceof Error ? error.message : String(error)}\n`);
            return null;
          })
        : null;
    if (snapshot)
      process.stdout.write(
        `worker isolate heap snapshot (after V8's GC): ${mib(snapshot.live)} MiB live; biggest: ${snapshot.top
          .map((group) => `${group.name} ${mib(group.bytes)} (${group.count})`)
          .join(", ")}\n`,
      );
    if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ options: opts, rows, stats, onDisk, snapshot }, null, 2)}\n`);
  } finally {
    await stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
