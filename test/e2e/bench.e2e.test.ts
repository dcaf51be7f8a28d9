import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchResult } from "../../tools/bench/bench";
import { createApiKey } from "../../tools/cli/credentials";
import { freePort } from "../../tools/lib/ports";
import { ROOT } from "../../tools/stack/paths";
import { type Stack, startStack } from "../../tools/stack/stack";

/**
 * The benchmark's smoke run, so that it cannot rot: `edge-rag bench` as a user runs it (the bin,
 * its own local stack on free ports), on 20 documents at tiny concurrency, then checks that the
 * report, the JSON and the charts exist and that their figures are sane and agree with each other.
 * It does not judge speed (the machine is shared); it judges that every figure was measured.
 */
let outDir: string;
let exitCode: number | null;
let stderr = "";
let stdout = "";
let result: BenchResult;

/** `edge-rag bench <args>` as a user runs it. */
function bench(args: string[], env: Record<string, string | undefined> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), "bench", ...args], {
      cwd: ROOT,
      env: { ...process.env, EDGE_RAG_URL: undefined, EDGE_RAG_KEY: undefined, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), "edge-rag-bench-"));
  ({
    code: exitCode,
    stdout,
    stderr,
  } = await bench([
    ...["--docs", "20", "--requests", "8", "--levels", "1,2", "--batch-sizes", "1,10", "--batch-docs", "10"],
    ...["--load", "40", "--concurrency", "2", "--out", outDir],
  ]));
  if (exitCode === 0) result = JSON.parse(readFileSync(join(outDir, "bench.json"), "utf8")) as BenchResult;
}, 600_000);

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const finitePositive = (value: number) => Number.isFinite(value) && value > 0;

describe("edge-rag bench (smoke run: 20 documents)", () => {
  it("exits 0 and prints the report it wrote", () => {
    expect(exitCode, stderr.slice(-3000)).toBe(0);
    const report = readFileSync(join(outDir, "report.md"), "utf8");
    expect(stdout).toContain(report.trim().split("\n")[0]!);
    for (const section of [
      "## Ingestion",
      "## Queries",
      "## Where a query's time goes",
      "## Memory",
      "## Storage",
      "## Cold start",
      "## Load soak",
    ])
      expect(report).toContain(section);
    expect(report).toMatch(/Machine: \d+ cores/);
    expect(stderr).toMatch(/\[#*\.*\] \d+\/\d+/); // the progress bar
  });

  it("measures ingestion end to end, per client batch size and the raw embedder on the same chunks", () => {
    const [main, ...batches] = result.ingest;
    expect(main!.documents).toBe(20);
    expect(main!.failed).toBe(0);
    expect(main!.chunks).toBeGreaterThanOrEqual(20);
    expect(finitePositive(main!.docsPerSecond) && finitePositive(main!.chunksPerSecond)).toBe(true);
    expect(batches.map((row) => [row.batchSize, row.documents, row.jobs])).toEqual([
      [1, 10, 10],
      [10, 10, 1],
    ]);
    // The raw embedder embedded exactly the chunks the pipeline made (the same chunker).
    expect(result.embedder!.chunks).toBe(main!.chunks);
    expect(finitePositive(result.embedder!.chunksPerSecond)).toBe(true);
    expect(result.machine.dimensions).toBe(result.embedder!.dimensions);
  });

  it("measures every query cell with only 200s, sane percentiles, and the phases that cell must show", () => {
    // 2 levels × (health, me, query × 2, search × 2) + 2 levels × degraded (query, search)
    expect(result.queries).toHaveLength(16);
    for (const cell of result.queries) {
      const label = `${cell.endpoint} ${cell.cache} ${cell.origin} c${cell.concurrency}`;
      expect(Object.keys(cell.latency.statuses), label).toEqual(["200"]);
      expect(cell.latency.requests, label).toBe(8);
      expect(cell.latency.p50, label).toBeLessThanOrEqual(cell.latency.p95);
      expect(cell.latency.p95, label).toBeLessThanOrEqual(cell.latency.p99);
      expect(finitePositive(cell.latency.throughput), label).toBe(true);
      if (cell.endpoint === "health" || cell.endpoint === "me") expect(cell.phases, label).toBeNull();
      else {
        expect(cell.phases!.answers, label).toBe(8);
        expect(cell.phases!.cacheHits, label).toBe(cell.cache === "warm" ? 8 : 0);
        expect(cell.phases!.degraded, label).toBe(cell.origin === "down" ? 8 : 0);
        if (cell.cache === "cold" && cell.origin === "up") expect(cell.phases!.embed, label).toBeGreaterThan(0);
      }
    }
    // The query embedding as the origin serves it alone, beside the worker's embed phase.
    expect(result.queryEmbedding!.requests).toBe(8);
    expect(Object.keys(result.queryEmbedding!.statuses)).toEqual(["200"]);
    expect(finitePositive(result.queryEmbedding!.p50)).toBe(true);
    expect(readFileSync(join(outDir, "report.md"), "utf8")).toContain("The query embedding without the worker");
  });

  it("runs the lane scenario and the load soak without a 5xx", () => {
    expect(result.lane!.ingest.documents).toBe(20);
    expect(result.lane!.duringIngest.requests).toBeGreaterThan(0);
    expect(Object.keys(result.lane!.duringIngest.statuses)).toEqual(["200"]);
    expect(finitePositive(result.lane!.ratio)).toBe(true);
    // Where the cores went: every process of the stack, the runtime busy in both halves.
    expect(result.lane!.cores!.alone.workerd).toBeGreaterThan(0);
    expect(result.lane!.cores!.duringIngest.workerd).toBeGreaterThan(0);
    expect(Object.keys(result.lane!.cores!.duringIngest)).toEqual(expect.arrayContaining(["origin", "workerd", "redis", "bench client"]));
    expect(result.load!.requests).toBe(40);
    expect(result.load!.errors5xx).toBe(0);
    expect(result.load!.windows.reduce((sum, w) => sum + w.requests, 0)).toBe(40);
  });

  it("samples the memory of workerd, the origin and redis-server, and measures storage per document", () => {
    const memory = new Map(result.memory!.figures.map((figure) => [figure.component, figure]));
    for (const component of ["workerd", "origin", "redis"]) {
      const figure = memory.get(component);
      expect(figure, component).toBeDefined();
      expect(figure!.peak, component).toBeGreaterThan(1024 ** 2);
      expect(figure!.steady, component).toBeLessThanOrEqual(figure!.peak);
    }
    expect(result.storage!.documents).toBe(20);
    expect(result.storage!.d1Bytes).toBeGreaterThan(0);
    expect(Object.values(result.storage!.durableObjects).some((bytes) => bytes > 0)).toBe(true);
  });

  it("measures the production bundle's size and startup CPU with its top functions", () => {
    const cold = result.coldStart!;
    expect(cold, result.notes.join("\n")).not.toBeNull();
    expect(cold.gzipBytes).toBeGreaterThan(10_000);
    expect(cold.gzipBytes).toBeLessThan(cold.bundleBytes);
    expect(cold.startupCpuMs).toBeGreaterThan(0);
    expect(cold.top.length).toBeGreaterThan(0);
    expect(existsSync(join(outDir, "startup.cpuprofile"))).toBe(true);
  });

  it("draws the charts as SVG and embeds them in the report", () => {
    const report = readFileSync(join(outDir, "report.md"), "utf8");
    for (const chart of ["latency-vs-concurrency.svg", "throughput-vs-concurrency.svg", "rss-over-time.svg", "load-p95-over-time.svg"]) {
      const svg = readFileSync(join(outDir, chart), "utf8");
      expect(svg, chart).toMatch(/^<svg/);
      expect(svg, chart).toContain("<path");
      expect(report).toContain(`](${chart})`);
    }
  });
});

describe("edge-rag bench --url (a deployment, through its public API only)", () => {
  let stack: Stack | undefined;
  let stateDir: string;
  let remoteOut: string;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "edge-rag-bench-remote-"));
    remoteOut = join(stateDir, "report");
    stack = await startStack({
      port: await freePort(),
      stateDir,
      workerVars: { TENANT_RATE_LIMIT_QUERY: "100000/60s", RATE_LIMIT_QUERY: "100000/60s" },
      log: () => {},
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("measures what the API shows and says what it could not measure", async () => {
    const { key } = await createApiKey({ tenant: "bench-remote", roles: "admin", name: "bench", "persist-to": stateDir });
    const run = await bench(
      [
        ...["--url", stack!.url, "--docs", "5", "--requests", "4", "--levels", "1", "--batch-sizes", "5", "--batch-docs", "5"],
        ...["--no-cold-start", "--out", remoteOut],
      ],
      { EDGE_RAG_KEY: key },
    );
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const remote = JSON.parse(readFileSync(join(remoteOut, "bench.json"), "utf8")) as BenchResult;
    expect(remote.target).toEqual({ url: stack!.url, local: false });
    expect(remote.ingest[0]!.documents).toBe(5);
    expect(remote.queries.map((cell) => `${cell.endpoint} ${cell.origin}`)).toEqual([
      "health up",
      "me up",
      "query up",
      "query up",
      "search up",
      "search up",
    ]);
    expect([remote.embedder, remote.queryEmbedding, remote.memory, remote.storage, remote.coldStart]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    expect(remote.notes.join(" ")).toContain("Remote target");
    // The key never reaches the report or the JSON.
    expect(readFileSync(join(remoteOut, "bench.json"), "utf8")).not.toContain(key);
    expect(readFileSync(join(remoteOut, "report.md"), "utf8")).not.toContain(key);
  }, 600_000);
});
