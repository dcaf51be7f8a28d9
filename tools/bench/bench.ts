import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { SourceDocument } from "../../src/ingest/source-files";
import type { WanSettings } from "../../src/wan/wan-profiles";
import { UsageError } from "../cli/usage-error";
import { ROOT } from "../stack/paths";
import { type Stack, workerErrors } from "../stack/stack";
import { readDocuments, readQuestions, scifactDir } from "./corpus";
import {
  type EmbedderFigures,
  type IngestFigures,
  measureEmbedder,
  measureIngest,
  measureQueryEmbedding,
  postDocuments,
  waitForJobs,
  warmEmbedder,
} from "./ingestion";
import { type LatencySummary, runLoad, type Sample, summarise } from "./load";
import { startMeasuredStack } from "./local-stack";
import { coresBusy, cpuSeconds, type MemorySampler, type RssFigures, type RssSample, sampleMemory } from "./memory";
import { bar, progress, step } from "./progress";
import { type CellSpec, measureCell, type PhaseMeans, primeCache, type QueryCell, waitUntilUndegraded } from "./queries";
import { renderReport } from "./report";
import { indexStats, localStorageBytes, type StorageFigures } from "./storage";
import type { Target } from "./target";
import { measureTenants, TENANT_ROUNDS, type TenantFigures } from "./tenants";
import { measureWan, type WanFigures } from "./wan";

/**
 * `npm run bench` / `edge-rag bench`: how fast edge-rag answers, how many queries per second it
 * holds, how fast it indexes, and what that costs in memory, in one run on one machine, written as
 * a Markdown report, a JSON file and SVG charts under .bench/<timestamp>/.
 *
 * Without --url it starts its own local stack (its own fresh state under .cache/bench-*, removed at
 * the end, so runs can overlap; free ports; limits lifted: it is one client measuring, not a tenant
 * being limited) and measures everything; with
 * --url/--key it measures a deployment through its public API only (no raw embedder rate, no
 * degraded run, no process memory: those need the origin and the processes). The machine is
 * rarely quiet, so the report leans on ratios taken within the run (÷ GET /health, ÷ concurrency 1,
 * ÷ the raw embedder) rather than on absolute figures.
 */
export interface BenchOptions {
  url?: string;
  key?: string;
  docs: number;
  /** Requests per query cell (at least 4 × its concurrency). */
  requests: number;
  levels: number[];
  batchSizes: number[];
  /** Documents per client-batch-size run. */
  batchDocs: number;
  /** The lane scenario's ingest size. */
  laneDocs: number;
  load?: { requests: number; concurrency: number };
  /** What to measure (`--only`); the main ingest always runs, as the others' setup. */
  sections: BenchSection[];
  outDir: string;
  /** The SciFact folder (default: found beside the checkout). */
  dataDir?: string;
  /** Worker variables the local stack starts with (`--worker-var`), over the bench's own. */
  workerVars?: Record<string, string>;
  /** `--wan <profile>`: the local stack's WAN profile and its variables (tools/stack/wan.ts). */
  wan?: { settings: WanSettings; vars: Record<string, string> };
  /** `--tenants <list>`: the tenant counts to measure one tenant at, ascending, 1 first. */
  tenants?: number[];
  /** `--checkout <dir>`: another checkout of this repository whose local stack is measured (e.g. an earlier commit's worktree). */
  checkout?: string;
}

/** The report's sections that `--only` can pick, in the order they run. */
export const BENCH_SECTIONS = ["ingest", "queries", "wan", "degraded", "lane", "load", "tenants", "cold-start"] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];

export interface IngestRow extends IngestFigures {
  label: string;
  batchSize: number;
}

export interface LaneFigures {
  concurrency: number;
  alone: LatencySummary;
  duringIngest: LatencySummary;
  /** Where the queries' time went, alone and during the ingest (absent in runs from before it was measured). */
  phases?: { alone: PhaseMeans | null; duringIngest: PhaseMeans | null };
  /** Cores each process kept busy, alone and during the ingest (local stack only; absent in older runs). */
  cores?: { alone: Record<string, number>; duringIngest: Record<string, number> } | null;
  ingest: IngestFigures;
  /** p95 during ingest ÷ p95 alone (goal ≤ 1.5). */
  ratio: number;
}

export interface LoadWindow {
  from: number;
  to: number;
  requests: number;
  p50: number;
  p95: number;
  errors5xx: number;
  throttled: number;
  /** Each component's RSS (bytes) at the sample nearest the window's end (local stack only). */
  rss?: Record<string, number>;
}

export interface LoadFigures {
  requests: number;
  concurrency: number;
  summary: LatencySummary;
  errors5xx: number;
  throttled: number;
  windows: LoadWindow[];
  /** Last window's p95 ÷ first window's. */
  p95Drift: number;
  /** The first few 5xx answers (problem code and request id, to find in stack.log), or "no answer". */
  failures: string[];
  /** component → RSS in the last window ÷ in the first (local stack only). */
  rssGrowth: Record<string, number>;
}

export interface BenchResult {
  startedAt: string;
  seconds: number;
  machine: { cores: number; cpu: string; memoryGiB: number; node: string; platform: string; embeddingModel: string; dimensions: number };
  /** commit: `git describe --always --dirty` of the checkout whose stack was measured (local stack; absent in older runs). */
  target: { url: string; local: boolean; commit?: string };
  options: Omit<BenchOptions, "key">;
  ingest: IngestRow[];
  embedder: EmbedderFigures | null;
  storage: StorageFigures | null;
  queries: QueryCell[];
  /** POST /v1/embed on the origin, one question per call, sequential (local stack; absent in older runs). */
  queryEmbedding?: LatencySummary | null;
  lane: LaneFigures | null;
  load: LoadFigures | null;
  memory: { figures: RssFigures[]; samples: RssSample[] } | null;
  coldStart: import("./cold-start").ColdStartFigures | null;
  /** `--wan`: latency and cross-region round trips per path under the profile (absent in older runs). */
  wan?: WanFigures | null;
  /** `--tenants`: one tenant's figures at each tenant count (absent in older runs). */
  tenants?: TenantFigures | null;
  notes: string[];
}

const COLLECTION = "scifact";

export async function runBench(options: BenchOptions): Promise<{ result: BenchResult; dir: string }> {
  const startedAt = new Date();
  mkdirSync(options.outDir, { recursive: true });
  const notes: string[] = [];
  let stack: Stack | undefined;
  let stateDir: string | undefined;
  let closeLog: (() => void) | undefined;
  // The tenant-count section's second stack, of 1 tenant.
  let baselineStack: Stack | undefined;
  let baselineStateDir: string | undefined;
  let closeBaselineLog: (() => void) | undefined;
  let memory: MemorySampler | undefined;
  const stopOnSignal = () => void Promise.all([stack?.stop(), baselineStack?.stop()]).finally(() => process.exit(130));
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    const dataDir = scifactDir(options.dataDir);
    let target: Target;
    if (options.url) {
      if (!options.key) throw new UsageError("--url needs --key (or EDGE_RAG_KEY): an admin key, or one with writer and reader");
      target = { url: options.url.replace(/\/+$/, ""), key: options.key };
      notes.push("Remote target: no raw embedder rate, no degraded run, no process memory or local storage (they need the local stack).");
    } else {
      // A state directory of its own (runs can overlap: a smoke test beside a full run), removed at the end.
      mkdirSync(join(ROOT, ".cache"), { recursive: true });
      stateDir = mkdtempSync(join(ROOT, ".cache", "bench-"));
      step(`starting a local stack${options.checkout ? ` from ${options.checkout}` : ""}…`);
      const started = await startStackOf(options.checkout)({
        stateDir,
        logFile: join(options.outDir, "stack.log"),
        tenant: "bench",
        workerVars: { ...options.wan?.vars, ...options.workerVars },
      });
      ({ stack, closeLog } = started);
      const { key } = started;
      target = { url: stack.url, key, origin: { url: stack.originUrl, jwtSecret: stack.originJwtSecret }, stack };
      memory = sampleMemory(() => stack!.processes());
    }

    // ── Ingestion ────────────────────────────────────────────────────────────────────────────
    const documents = await readDocuments(dataDir, options.docs);
    if (documents.length < options.docs) notes.push(`The corpus has ${documents.length} documents; --docs asked for ${options.docs}.`);
    if (target.origin)
      await warmEmbedder(
        target.origin,
        documents.map((doc) => doc.text),
      );
    memory?.phase("ingest");
    step(`ingesting ${documents.length} SciFact documents (client batches of 100)…`);
    const ingest: IngestRow[] = [];
    const main = await measureIngest(target, documents, {
      batchSize: 100,
      collection: COLLECTION,
      progress: (text) => progress(`ingest: ${text}`),
    });
    ingest.push({ label: "end to end", batchSize: 100, ...main });
    step(`ingested ${main.documents} documents, ${main.chunks} chunks in ${main.seconds.toFixed(1)} s`);
    if (main.failed > 0) notes.push(`${main.failed} document(s) failed to index in the main ingest.`);

    const stats = await indexStats(target.url, target.key);
    let storage: StorageFigures | null = null;
    if (stack) {
      storage = {
        ...localStorageBytes(stack.stateDir),
        documents: stats.documents,
        chunks: stats.chunks,
        vectorDimensions: stats.vector_dimensions,
        vectorRawBytes: stats.chunks * stats.vector_dimensions * 4,
      };
    }

    const measures = (section: BenchSection) => options.sections.includes(section);
    let embedder: EmbedderFigures | null = null;
    if (target.origin && measures("ingest")) {
      memory?.phase("embedder");
      step("raw embedder: the same chunks through the origin's /v1/embed…");
      embedder = await measureEmbedder(target.origin, documents);
      step(`raw embedder: ${embedder.chunks} chunks in ${embedder.embedSeconds.toFixed(1)} s`);
    }

    memory?.phase("ingest-batches");
    const batchDocuments = documents.slice(0, Math.min(options.batchDocs, documents.length));
    for (const batchSize of measures("ingest") ? options.batchSizes : []) {
      // New ids (and their own collection), so that nothing is an unchanged-document no-op.
      const copies = batchDocuments.map((doc) => ({ ...doc, id: `${doc.id}.b${batchSize}` }));
      const figures = await measureIngest(target, copies, {
        batchSize,
        collection: `batch-${batchSize}`,
        progress: (text) => progress(`client batches of ${batchSize}: ${text}`),
      });
      ingest.push({ label: `client batches of ${batchSize}`, batchSize, ...figures });
      step(`client batches of ${batchSize}: ${figures.docsPerSecond.toFixed(1)} documents/s`);
    }

    // ── Queries ──────────────────────────────────────────────────────────────────────────────
    memory?.phase("queries");
    const questions = readQuestions(dataDir);
    const warm = questions.slice(0, 20);
    step("warming up and priming the query cache…");
    for (let i = 0; i < 20; i++) await (await fetch(`${target.url}/health`)).text();
    await primeCache(target, warm);
    const queries: QueryCell[] = [];
    const specs: CellSpec[] = [];
    for (const concurrency of measures("queries") ? options.levels : []) {
      specs.push({ endpoint: "health", cache: "none", origin: "up", concurrency });
      specs.push({ endpoint: "me", cache: "none", origin: "up", concurrency });
      for (const endpoint of ["query", "search"] as const)
        for (const cache of ["cold", "warm"] as const) specs.push({ endpoint, cache, origin: "up", concurrency });
    }
    const cellCount = (concurrency: number) => Math.max(options.requests, concurrency * 4);
    let done = 0;
    for (const spec of specs) {
      progress(bar("queries", done++, specs.length), true);
      queries.push(await measureCell(target, spec, { count: cellCount(spec.concurrency), questions, warm }));
    }
    if (specs.length > 0) step(`queries: ${specs.length} cells measured`);
    // ── WAN: the paths under the stack's profile, with Server-Timing's round trips ──────────
    let wan: WanFigures | null = null;
    if (options.wan && measures("wan")) {
      memory?.phase("wan");
      // Never asked: from the end of the list, which the other sections reach last.
      const unasked = questions.slice(-2 * options.requests);
      wan = await measureWan(target, options.wan.settings, { warm, unasked, requests: options.requests });
      step(
        `wan (${options.wan.settings.profile}): ${wan.rows.map((row) => `${row.path} c${row.concurrency} p50 ${row.p50.toFixed(0)} ms`).join("; ")}`,
      );
    }
    let queryEmbedding: LatencySummary | null = null;
    if (target.origin && measures("queries")) queryEmbedding = await measureQueryEmbedding(target.origin, questions, options.requests);

    // ── Degraded: origin stopped ─────────────────────────────────────────────────────────────
    if (stack && measures("degraded")) {
      memory?.phase("degraded");
      step("stopping the origin (degraded queries)…");
      await stack.stopOrigin();
      const degradedSpecs: CellSpec[] = options.levels.flatMap((concurrency) =>
        (["query", "search"] as const).map((endpoint) => ({ endpoint, cache: "cold" as const, origin: "down" as const, concurrency })),
      );
      done = 0;
      for (const spec of degradedSpecs) {
        progress(bar("degraded", done++, degradedSpecs.length), true);
        queries.push(await measureCell(target, spec, { count: cellCount(spec.concurrency), questions, warm }));
      }
      step("restarting the origin…");
      await stack.startOrigin();
      target.origin = { url: stack.originUrl, jwtSecret: stack.originJwtSecret };
      await waitUntilUndegraded(target, questions[0]!);
    }

    // ── Lane: queries while a big ingest runs ────────────────────────────────────────────────
    let lane: LaneFigures | null = null;
    if (measures("lane")) {
      memory?.phase("lane");
      lane = await measureLane(target, documents.slice(0, options.laneDocs), questions, warm, cellCount(4), stack);
    }

    // ── Load soak ────────────────────────────────────────────────────────────────────────────
    let load: LoadFigures | null = null;
    if (options.load && measures("load")) {
      memory?.phase("load");
      load = await measureLoad(target, options.load, questions, memory);
    }
    // ── Tenant count: one tenant while the deployment holds more and more ─────────────────────
    let tenants: TenantFigures | null = null;
    if (options.tenants && stack && measures("tenants")) {
      memory?.phase("tenants");
      // The 1-tenant deployment measured beside this one: the same code, the same documents.
      step("tenants: starting a second stack, of 1 tenant, to measure beside it…");
      mkdirSync(join(ROOT, ".cache"), { recursive: true });
      baselineStateDir = mkdtempSync(join(ROOT, ".cache", "bench-"));
      const second = await startStackOf(options.checkout)({
        stateDir: baselineStateDir,
        logFile: join(options.outDir, "stack-1-tenant.log"),
        tenant: "bench",
        workerVars: { ...options.wan?.vars, ...options.workerVars },
      });
      ({ stack: baselineStack, closeLog: closeBaselineLog } = second);
      const baseline: Target = { url: second.stack.url, key: second.key };
      const copied = await measureIngest(baseline, documents, {
        batchSize: 100,
        collection: COLLECTION,
        progress: (text) => progress(`1 tenant: ${text}`),
      });
      if (copied.documents !== main.documents)
        throw new Error(`the 1-tenant stack indexed ${copied.documents} of ${main.documents} documents`);
      tenants = await measureTenants(target, {
        baseline,
        rounds: TENANT_ROUNDS,
        counts: options.tenants,
        root: options.checkout ?? ROOT,
        stateDir: stack.stateDir,
        documents: documents.slice(0, options.batchDocs),
        questions,
        requests: options.requests,
        measuredTenantDocuments: main.documents,
      });
    }
    memory?.phase("end");
    memory?.stop();

    // ── Cold start (the production bundle; no stack needed) ──────────────────────────────────
    let coldStart: BenchResult["coldStart"] = null;
    if (measures("cold-start")) {
      step("cold start: building the production bundle and profiling its startup…");
      const { measureColdStart } = await import("./cold-start");
      coldStart = await measureColdStart(join(options.outDir, "startup.cpuprofile")).catch((error: unknown) => {
        notes.push(`Cold start not measured: ${error instanceof Error ? error.message : String(error)}`);
        return null;
      });
    }

    // Errors that reach no response (a waitUntil workerd failed) show only in wrangler's log.
    for (const [name, started] of [
      ["", stack],
      ["1-tenant deployment: ", baselineStack],
    ] as const) {
      if (!started) continue;
      for (const [error, count] of workerErrors(started.stateDir) ?? [])
        notes.push(`${name}the worker logged ${count}× "${error.slice(0, 200)}"`);
    }
    const result: BenchResult = {
      startedAt: startedAt.toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      machine: {
        cores: cpus().length,
        cpu: cpus()[0]?.model.trim() ?? "unknown",
        memoryGiB: totalmem() / 1024 ** 3,
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        embeddingModel: stats.embedding_model,
        dimensions: stats.vector_dimensions,
      },
      target: {
        url: stack ? `local stack${options.checkout ? ` of ${options.checkout}` : ""}` : target.url,
        local: Boolean(stack),
        commit: stack ? describeCommit(options.checkout ?? ROOT) : undefined,
      },
      options: { ...options, key: undefined } as Omit<BenchOptions, "key">,
      ingest,
      embedder,
      storage,
      queries,
      queryEmbedding,
      lane,
      load,
      memory: memory ? { figures: memory.figures(["queries", "degraded", "lane", "load"]), samples: memory.samples } : null,
      coldStart,
      wan,
      tenants,
      notes,
    };
    return { result, dir: await writeOutputs(result, options.outDir) };
  } finally {
    memory?.stop();
    process.off("SIGINT", stopOnSignal);
    process.off("SIGTERM", stopOnSignal);
    await Promise.all([stack?.stop(), baselineStack?.stop()]);
    for (const dir of [stateDir, baselineStateDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    closeLog?.();
    closeBaselineLog?.();
  }
}

/** The local stack's starter: this checkout's, or another checkout's own code (its worker, migrations, wrangler). */
function startStackOf(checkout: string | undefined): typeof startMeasuredStack {
  if (!checkout) return startMeasuredStack;
  return async (options) => {
    const module = (await import(pathToFileURL(join(checkout, "tools", "bench", "local-stack.ts")).href)) as typeof import("./local-stack");
    return module.startMeasuredStack(options);
  };
}

/** Query p95 at `concurrency` 4 alone, then while `documents` are being ingested (new ids). */
async function measureLane(
  target: Target,
  documents: SourceDocument[],
  questions: string[],
  warm: string[],
  count: number,
  stack: Stack | undefined,
) {
  const concurrency = 4;
  const spec: CellSpec = { endpoint: "query", cache: "cold", origin: "up", concurrency };
  // Where the cores go: each process's CPU time over each half (this client's own too).
  const cpu = () => ({
    at: performance.now(),
    seconds: stack ? { ...cpuSeconds(stack.processes()), "bench client": cpuTotalSeconds() } : {},
  });
  const busy = (from: ReturnType<typeof cpu>, to: ReturnType<typeof cpu>) => coresBusy(from.seconds, to.seconds, (to.at - from.at) / 1000);
  step(`lane: query p95 at concurrency ${concurrency}, alone…`);
  const aloneFrom = cpu();
  const alone = await measureCell(target, spec, { count, questions, warm });
  const aloneCores = busy(aloneFrom, cpu());
  step(`lane: the same while ${documents.length} documents are ingested…`);
  const copies = documents.map((doc) => ({ ...doc, id: `${doc.id}.lane` }));
  let ingesting = true;
  const ingestRun = (async () => {
    try {
      const started = performance.now();
      const jobs: string[] = [];
      for (let i = 0; i < copies.length; i += 100) jobs.push(await postDocuments(target, copies.slice(i, i + 100), "lane"));
      const totals = await waitForJobs(target, jobs, { progress: (finished, total) => progress(bar("lane ingest", finished, total)) });
      const seconds = (performance.now() - started) / 1000;
      return {
        ...totals,
        jobs: jobs.length,
        seconds,
        docsPerSecond: totals.documents / seconds,
        chunksPerSecond: totals.chunks / seconds,
      } satisfies IngestFigures;
    } finally {
      ingesting = false;
    }
  })();
  // Queries run for as long as the ingest does (at least `count` of them, so a fast ingest still
  // yields a percentile); only those answered while it ran are counted.
  const duringFrom = cpu();
  const during = await measureCell(target, spec, { until: () => !ingesting, questions, warm });
  const duringCores = busy(duringFrom, cpu());
  const ingest = await ingestRun;
  step(`lane: p95 ${alone.latency.p95.toFixed(0)} ms alone, ${during.latency.p95.toFixed(0)} ms during the ingest`);
  return {
    concurrency,
    alone: alone.latency,
    duringIngest: during.latency,
    phases: { alone: alone.phases, duringIngest: during.phases },
    cores: stack ? { alone: aloneCores, duringIngest: duringCores } : null,
    ingest,
    ratio: during.latency.p95 / alone.latency.p95,
  };
}

/** A bounded soak: `requests` queries and searches (alternating, cache on) from `concurrency` clients. */
async function measureLoad(
  target: Target,
  load: { requests: number; concurrency: number },
  questions: string[],
  memory: MemorySampler | undefined,
): Promise<LoadFigures> {
  step(`load: ${load.requests} requests at concurrency ${load.concurrency}…`);
  const offset = memory?.now() ?? 0;
  let answered = 0;
  const failures: string[] = [];
  const run = await runLoad({
    concurrency: load.concurrency,
    count: load.requests,
    inspect: (body, response) => {
      if (response.status < 500 || failures.length >= 10) return;
      const problem = (typeof body === "object" && body !== null ? body : {}) as { code?: string; request_id?: string };
      failures.push(`${response.status} ${problem.code ?? "(no problem body)"} request_id=${problem.request_id ?? "–"}`);
    },
    request: (i) => {
      if (++answered % 50 === 0) progress(bar("load", answered, load.requests));
      const path = i % 2 === 0 ? "/v1/query" : "/v1/search";
      return fetch(`${target.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${target.key}`, "content-type": "application/json" },
        body: JSON.stringify({ query: questions[i % questions.length] }),
        signal: AbortSignal.timeout(60_000),
      });
    },
  });
  const summary = summarise(run);
  const windows = loadWindows(run.samples, 10);
  const rssGrowth: Record<string, number> = {};
  if (memory && memory.samples.length > 0) {
    const nearest = (t: number) =>
      memory.samples.reduce((best, sample) => (Math.abs(sample.t - t) < Math.abs(best.t - t) ? sample : best), memory.samples[0]!);
    for (const window of windows) window.rss = nearest(offset + window.to).rss;
    const first = windows[0]?.rss ?? {};
    const last = windows.at(-1)?.rss ?? {};
    for (const component of Object.keys(last)) if (first[component]) rssGrowth[component] = last[component]! / first[component]!;
  }
  const count = (predicate: (status: number) => boolean) => run.samples.filter((s) => predicate(s.status)).length;
  const figures: LoadFigures = {
    requests: load.requests,
    concurrency: load.concurrency,
    summary,
    errors5xx: count((status) => status >= 500 || status === 0),
    throttled: count((status) => status === 429),
    windows,
    p95Drift: windows.length > 1 ? windows.at(-1)!.p95 / windows[0]!.p95 : 1,
    rssGrowth,
    failures: [...failures, ...run.samples.filter((s) => s.status === 0).map(() => "no answer (connection error or 60 s timeout)")].slice(
      0,
      10,
    ),
  };
  step(`load: ${figures.errors5xx} 5xx, ${figures.throttled} 429, p95 drift ${figures.p95Drift.toFixed(2)}×`);
  return figures;
}

/** Splits a run's samples into `n` equal time windows. */
export function loadWindows(samples: Sample[], n: number): LoadWindow[] {
  if (samples.length === 0) return [];
  const end = Math.max(...samples.map((s) => s.at));
  const size = end / n;
  return Array.from({ length: n }, (_, index) => {
    const from = index * size;
    const to = index === n - 1 ? end : (index + 1) * size;
    const inside = samples.filter((s) => s.at >= from && (index === n - 1 ? s.at <= to : s.at < to));
    const latency = summarise({ samples: inside, seconds: Math.max((to - from) / 1000, 1e-9) });
    return {
      from: from / 1000,
      to: to / 1000,
      requests: inside.length,
      p50: latency.p50,
      p95: latency.p95,
      errors5xx: inside.filter((s) => s.status >= 500 || s.status === 0).length,
      throttled: inside.filter((s) => s.status === 429).length,
    };
  }).filter((window) => window.requests > 0);
}

/** Writes bench.json, the charts and report.md into `outDir` (also how --render redraws an earlier run). */
export async function writeOutputs(result: BenchResult, outDir: string): Promise<string> {
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const { renderCharts } = await import("./charts");
  const charts = await renderCharts(result, dir);
  writeFileSync(join(dir, "bench.json"), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, "report.md"), renderReport(result, charts));
  return dir;
}

/** The checkout's commit, `-dirty` when its tracked files differ from it ("unknown" outside git). */
function describeCommit(root: string): string {
  try {
    return execFileSync("git", ["-C", root, "describe", "--always", "--dirty"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** This process's CPU seconds so far (user + system). */
function cpuTotalSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
