import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ParseArgsOptionsConfig } from "node:util";
import { WanConfigError } from "../../src/wan/wan-profiles";
import { EXIT } from "../cli/api";
import { UsageError } from "../cli/usage-error";
import { ROOT } from "../stack/paths";
import { wanWorkerVars } from "../stack/wan";
import { BENCH_SECTIONS, type BenchOptions, type BenchResult, type BenchSection, runBench, writeOutputs } from "./bench";

/** `edge-rag bench` (and `npm run bench`): options, their checks, and what it prints. */
export const BENCH_OPTIONS: ParseArgsOptionsConfig = {
  url: { type: "string" },
  key: { type: "string" },
  docs: { type: "string" },
  requests: { type: "string" },
  levels: { type: "string" },
  "batch-sizes": { type: "string" },
  "batch-docs": { type: "string" },
  "lane-docs": { type: "string" },
  load: { type: "string" },
  concurrency: { type: "string" },
  "no-cold-start": { type: "boolean" },
  only: { type: "string" },
  out: { type: "string" },
  data: { type: "string" },
  render: { type: "string" },
  "worker-var": { type: "string", multiple: true },
  wan: { type: "string" },
  tenants: { type: "string" },
  checkout: { type: "string" },
};

export const BENCH_DETAILS = `Without --url it starts its own local stack on free ports (fresh state in .cache/bench-*, removed after) and measures
ingestion (end to end, per client batch size, and the raw embedder), queries (/v1/query and /v1/search,
cold and warm, origin up and stopped, at each concurrency, against GET /health), queries during an
ingest, memory (RSS per process), storage per document and the production bundle's cold start.
With --url it measures that deployment through its public API only; the documents it ingests stay in
the key's tenant (collections scifact, batch-<n> and lane, ids <SciFact id>[.b<n>|.lane]).
Writes report.md, bench.json and SVG charts to .bench/<timestamp>/ (or --out) and prints the report;
exits 2 when the load soak saw a 5xx or documents failed to index.
  --docs <n>            SciFact documents to ingest (default 1000)
  --requests <n>        requests per query cell, at least 4 × its concurrency (default 100)
  --levels <list>       query concurrencies (default 1,4,16,32)
  --batch-sizes <list>  client batch sizes to compare (default 1,50,250)
  --batch-docs <n>      documents per batch-size run (default 250)
  --lane-docs <n>       documents ingested while queries run (default: --docs)
  --load <n>            also a soak of n requests …
  --concurrency <c>     … from c clients (default 16)
  --no-cold-start       skip the bundle build and startup profile
  --only <list>         measure only these sections (default: all): ingest (the raw embedder and the
                        client batch sizes), queries, wan, degraded, lane, load, tenants, cold-start. The main ingest of
                        --docs always runs: the other sections query what it indexed
  --out <dir>           where the report goes
  --data <dir>          the BEIR SciFact folder (default: shared/data/scifact beside the checkout)
  --render <dir>        measure nothing: redraw <dir>/report.md and its charts from <dir>/bench.json
  --worker-var <N=V>    a worker variable for the local stack, to measure a setting (repeatable;
                        e.g. QUERY_CACHE_TIERS=memory); the report names it
  --wan <profile>       the local stack's remote ports at a distance (near, far; WAN_<DEPENDENCY>_RTT_MS
                        overrides one), and the wan section: cache hit, cold miss (whole and first token), hit ÷ /health at
                        concurrency 16, with the cross-region round trips each request waited on
  --tenants <list>      and the tenants section: at each tenant count (ascending, 1 first; e.g. 1,100,1000,5000)
                        the stack gets that many tenants with one document each (keys written into its D1
                        as \`keys create\` does, documents through the API), then the bench's tenant ingests
                        --batch-docs new documents, asks --requests uncached questions and calls /v1/stats
                        --requests times; each figure also ÷ its 1-tenant figure (local stack only)
  --checkout <dir>      start the local stack of another checkout of this repository (e.g. a git worktree
                        at an earlier commit: the figures before a change); the report names its commit
  --url <url>           a deployment instead of the local stack
  --key <key>           its key (admin, or writer + reader; default: $EDGE_RAG_KEY)`;

type Values = Record<string, string | boolean | string[] | undefined>;

function count(values: Values, name: string, fallback: number, min = 1, max = 1_000_000): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return value;
}

function list(values: Values, name: string, fallback: number[], max: number): number[] {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const items = String(raw).split(",").map(Number);
  if (items.length === 0 || items.some((n) => !Number.isInteger(n) || n < 1 || n > max))
    throw new UsageError(`--${name} is a comma-separated list of integers from 1 to ${max}`);
  return items;
}

/** --worker-var NAME=VALUE, repeatable: names as the worker's configuration spells them. */
function variables(raw: Values[string]): Record<string, string> {
  const pairs = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  return Object.fromEntries(
    pairs.map((pair) => {
      const match = /^([A-Z][A-Z0-9_]*)=(.*)$/s.exec(pair);
      if (!match) throw new UsageError(`--worker-var is NAME=VALUE with an upper-case NAME (not: ${pair})`);
      return [match[1]!, match[2]!];
    }),
  );
}

/** --only: the sections to measure (all by default); --load and --no-cold-start must agree with it. */
function sections(values: Values): BenchSection[] {
  const raw = values.only;
  const chosen =
    raw === undefined
      ? BENCH_SECTIONS.filter((section) =>
          section === "load"
            ? values.load !== undefined
            : section === "wan"
              ? values.wan !== undefined
              : section === "tenants"
                ? values.tenants !== undefined
                : true,
        )
      : String(raw)
          .split(",")
          .map((name) => name.trim());
  const unknown = chosen.filter((name) => !(BENCH_SECTIONS as readonly string[]).includes(name));
  if (chosen.length === 0 || unknown.length > 0)
    throw new UsageError(
      `--only is a comma-separated list of sections: ${BENCH_SECTIONS.join(", ")} (not: ${unknown.join(", ") || "nothing"})`,
    );
  if (chosen.includes("load") && values.load === undefined) throw new UsageError("--only load needs --load <n>");
  if (chosen.includes("wan") && values.wan === undefined) throw new UsageError("--only wan needs --wan <profile>");
  if (chosen.includes("tenants") && values.tenants === undefined) throw new UsageError("--only tenants needs --tenants <list>");
  if (raw !== undefined && values.tenants !== undefined && !chosen.includes("tenants"))
    throw new UsageError("--tenants needs tenants in --only");
  if (raw !== undefined && values.load !== undefined && !chosen.includes("load")) throw new UsageError("--load needs load in --only");
  if (raw !== undefined && values["no-cold-start"] === true && chosen.includes("cold-start"))
    throw new UsageError("--no-cold-start contradicts cold-start in --only");
  return BENCH_SECTIONS.filter((section) => chosen.includes(section) && !(section === "cold-start" && values["no-cold-start"] === true));
}

export function benchOptions(values: Values, env: Record<string, string | undefined> = process.env, now = new Date()): BenchOptions {
  const url = typeof values.url === "string" ? values.url : undefined;
  if (url) {
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--url is not a URL: ${url}`);
    }
  }
  const key = typeof values.key === "string" ? values.key : env.EDGE_RAG_KEY;
  if (url && !key) throw new UsageError("--url needs a key: set EDGE_RAG_KEY (or pass --key)");
  if (values.concurrency !== undefined && values.load === undefined) throw new UsageError("--concurrency goes with --load");
  const docs = count(values, "docs", 1000, 1, 1_000_000);
  const workerVars = variables(values["worker-var"]);
  if (url && Object.keys(workerVars).length > 0) throw new UsageError("--worker-var sets the local stack's worker: not with --url");
  if (url && values.wan !== undefined) throw new UsageError("--wan sets the local stack's distances: not with --url");
  let wan: BenchOptions["wan"];
  if (values.wan !== undefined) {
    try {
      wan = wanWorkerVars(String(values.wan), env);
    } catch (error) {
      if (error instanceof WanConfigError) throw new UsageError(`--wan: ${error.issues.join("; ")}`);
      throw error;
    }
  }
  const tenants = values.tenants === undefined ? undefined : list(values, "tenants", [], 100_000);
  if (tenants && (tenants[0] !== 1 || tenants.some((n, i) => i > 0 && n <= tenants[i - 1]!)))
    throw new UsageError("--tenants is ascending and starts at 1 (the ratios are taken against 1 tenant), e.g. 1,100,1000,5000");
  if (url && tenants) throw new UsageError("--tenants writes tenants into the local stack's D1: not with --url");
  const checkout = typeof values.checkout === "string" ? resolve(values.checkout) : undefined;
  if (checkout && url) throw new UsageError("--checkout starts another checkout's local stack: not with --url");
  if (checkout && !existsSync(join(checkout, "tools", "bench", "local-stack.ts")))
    throw new UsageError(`--checkout: ${checkout} is not a checkout of this repository (no tools/bench/local-stack.ts)`);
  const chosen = sections(values);
  if (checkout && chosen.includes("cold-start"))
    throw new UsageError(
      "--checkout measures that checkout's stack, but cold-start builds this one's bundle: add --no-cold-start or --only",
    );
  return {
    url,
    key: url ? key : undefined,
    docs,
    requests: count(values, "requests", 100, 1, 1_000_000),
    levels: list(values, "levels", [1, 4, 16, 32], 1024),
    batchSizes: list(values, "batch-sizes", [1, 50, 250], 1000),
    batchDocs: count(values, "batch-docs", 250),
    laneDocs: count(values, "lane-docs", docs),
    load:
      values.load === undefined
        ? undefined
        : { requests: count(values, "load", 0), concurrency: count(values, "concurrency", 16, 1, 1024) },
    sections: chosen,
    dataDir: typeof values.data === "string" ? values.data : undefined,
    workerVars,
    wan,
    tenants,
    checkout,
    outDir: typeof values.out === "string" ? values.out : join(ROOT, ".bench", now.toISOString().replace(/[:.]/g, "-")),
  };
}

export async function benchCommand(values: Values): Promise<void> {
  let dir: string;
  if (typeof values.render === "string") {
    const file = join(values.render, "bench.json");
    if (!existsSync(file)) throw new UsageError(`--render: ${file} does not exist`);
    dir = await writeOutputs(JSON.parse(readFileSync(file, "utf8")) as BenchResult, values.render);
  } else {
    const run = await runBench(benchOptions(values));
    dir = run.dir;
    // Figures that must be zero: the run is reported, and the exit code says it partly failed.
    const failures = [
      run.result.load && run.result.load.errors5xx > 0 ? `${run.result.load.errors5xx} 5xx in the load soak` : "",
      run.result.ingest.some((row) => row.failed > 0) || run.result.tenants?.rows.some((row) => row.ingest_failed > 0)
        ? "documents failed to index"
        : "",
    ].filter(Boolean);
    if (failures.length > 0) {
      console.error(`bench: ${failures.join("; ")}`);
      process.exitCode = EXIT.partial;
    }
  }
  console.log(readFileSync(join(dir, "report.md"), "utf8"));
  console.error(`report: ${join(dir, "report.md")} (with bench.json and the charts)`);
}
