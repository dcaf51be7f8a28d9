/**
 * Retrieval quality on BEIR SciFact (train split): ingests the full corpus through the public API,
 * then runs the 809 training queries in `keyword`, `vector` and `hybrid` mode and prints nDCG@10
 * and recall@100 per mode, with ingestion time and query latency.
 *
 *   npm run eval:scifact                       # starts its own stack (state in .cache/scifact-eval)
 *   npm run eval:scifact -- --url <u> --key <k>  # against a running stack (admin or writer+reader key)
 *   options: --queries <n> (first n queries), --concurrency <n>, --fresh (new state dir),
 *            --tune (also print hybrid nDCG@10 for a grid of fusion weights and k, computed here
 *            from the keyword and vector rankings with the worker's own fusion function),
 *            --guard-tolerance <x> (default 0)
 *
 * Guard: a mode that uses BM25 (hybrid) must not score below BM25 alone (keyword) on nDCG@10 by
 * more than the tolerance; otherwise it says so loudly and exits 1, so a fusion or ranking change
 * that makes hybrid worse than its own keyword half cannot pass unnoticed.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { reciprocalRankFusion } from "../../src/retrieval/rrf";
import { readQrels, readQueries, SCIFACT_DIR } from "../../test/e2e/scifact";
import { createApiKey } from "../cli/credentials";
import { ingest } from "../cli/ingest";
import { freePort } from "../lib/ports";
import { ROOT } from "../stack/paths";
import { type Stack, startStack } from "../stack/stack";

const MODES = ["keyword", "vector", "hybrid"] as const;
type Mode = (typeof MODES)[number];

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    key: { type: "string" },
    queries: { type: "string" },
    concurrency: { type: "string", default: "4" },
    fresh: { type: "boolean", default: false },
    tune: { type: "boolean", default: false },
    "guard-tolerance": { type: "string", default: "0" },
  },
});

function ndcgAt10(ranked: string[], relevant: Set<string>): number {
  const dcg = ranked.slice(0, 10).reduce((sum, id, index) => sum + (relevant.has(id) ? 1 / Math.log2(index + 2) : 0), 0);
  const ideal = Array.from({ length: Math.min(10, relevant.size) }, (_, index) => 1 / Math.log2(index + 2)).reduce((a, b) => a + b, 0);
  return ideal === 0 ? 0 : dcg / ideal;
}

const recallAt100 = (ranked: string[], relevant: Set<string>) =>
  ranked.slice(0, 100).filter((id) => relevant.has(id)).length / relevant.size;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function search(
  url: string,
  key: string,
  query: string,
  mode: Mode,
  groupBy: "document" | "chunk" = "document",
): Promise<{ ranked: string[]; chunks: Array<{ id: string; document_id: string }>; ms: number }> {
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    const response = await fetch(`${url}/v1/search`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ query, mode, top_k: 100, group_by: groupBy, filters: { collection: "scifact" } }),
    });
    const ms = performance.now() - started;
    if (response.status === 429 && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get("retry-after") ?? 1) * 1000));
      continue;
    }
    const body = (await response.json()) as { results?: Array<{ id: string; document_id: string }>; detail?: string };
    if (!response.ok || !body.results) throw new Error(`search failed (${response.status}): ${body.detail ?? ""}`);
    return { ranked: body.results.map((result) => result.document_id), chunks: body.results, ms };
  }
}

async function main() {
  let stack: Stack | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130)));
  }
  let url = values.url;
  let key = values.key;
  try {
    if (!url || !key) {
      const stateDir = join(ROOT, ".cache", "scifact-eval");
      if (values.fresh) rmSync(stateDir, { recursive: true, force: true });
      console.error(`starting a local stack (state: ${stateDir})…`);
      stack = await startStack({
        port: await freePort(),
        stateDir,
        // The evaluation is one client sending thousands of requests: lift its limits.
        workerVars: { RATE_LIMIT_QUERY: "100000/60s", RATE_LIMIT_INGEST: "100000/60s" },
        log: () => {},
      });
      url = stack.url;
      key = (await createApiKey({ tenant: "scifact-eval", roles: "admin", name: "eval", "persist-to": stateDir })).key;
    }

    const ingestStarted = performance.now();
    const summary = await ingest(join(SCIFACT_DIR, "corpus.jsonl.gz"), {
      url,
      key,
      collection: "scifact",
      batchSize: 100,
      restart: true,
      stateDir: join(ROOT, ".cache", "ingest-state"),
    });
    const ingestSeconds = (performance.now() - ingestStarted) / 1000;
    console.error(`\ningested ${summary.documents} documents in ${ingestSeconds.toFixed(1)} s (${summary.failed.length} failed)`);

    const queries = readQueries();
    const qrels = readQrels();
    const evaluated = [...qrels.keys()].filter((id) => queries.has(id)).slice(0, values.queries ? Number(values.queries) : undefined);
    const concurrency = Number(values.concurrency);
    const rows: string[] = [];
    const ndcgByMode = new Map<Mode, number>();
    for (const mode of MODES) {
      const ndcgs: number[] = [];
      const recalls: number[] = [];
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < evaluated.length) {
            const queryId = evaluated[next++]!;
            const { ranked, ms } = await search(url!, key!, queries.get(queryId)!, mode);
            const relevant = qrels.get(queryId)!;
            ndcgs.push(ndcgAt10(ranked, relevant));
            recalls.push(recallAt100(ranked, relevant));
            latencies.push(ms);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      const mean = (list: number[]) => list.reduce((a, b) => a + b, 0) / list.length;
      ndcgByMode.set(mode, mean(ndcgs));
      rows.push(
        `| ${mode.padEnd(7)} | ${mean(ndcgs).toFixed(4)} | ${mean(recalls).toFixed(4)} | ${percentile(latencies, 50).toFixed(1)} | ${percentile(latencies, 95).toFixed(1)} | ${(evaluated.length / seconds).toFixed(1)} |`,
      );
      console.error(`${mode}: done`);
    }
    console.log(
      `\nBEIR SciFact train: ${evaluated.length} queries, ${summary.documents} documents, ingestion ${ingestSeconds.toFixed(1)} s, concurrency ${concurrency}`,
    );
    console.log("| mode    | nDCG@10 | recall@100 | p50 ms | p95 ms | queries/s |");
    console.log("|---------|---------|------------|--------|--------|-----------|");
    for (const row of rows) console.log(row);
    if (values.tune) await tune(url!, key!, evaluated, queries, qrels, concurrency);
    guard(ndcgByMode, Number(values["guard-tolerance"]));
  } finally {
    await stack?.stop();
  }
}

/** Modes that use BM25, and must not fall below it. */
const BM25_MODES: Mode[] = ["hybrid"];

/** Fails the run (exit 1) when a BM25-using mode scores below keyword alone by more than `tolerance`. */
function guard(ndcgByMode: Map<Mode, number>, tolerance: number) {
  const bm25 = ndcgByMode.get("keyword")!;
  const below = BM25_MODES.filter((mode) => ndcgByMode.get(mode)! < bm25 - tolerance);
  if (below.length === 0) {
    console.log(`
guard: every BM25-using mode ≥ BM25 alone (${bm25.toFixed(4)}) − ${tolerance}`);
    return;
  }
  for (const mode of below) {
    console.error(`
GUARD FAILED: ${mode} nDCG@10 ${ndcgByMode.get(mode)!.toFixed(4)} < keyword (BM25 alone) ${bm25.toFixed(4)} − ${tolerance}`);
  }
  process.exitCode = 1;
}

/** Hybrid nDCG@10 for fusion weights and k, from each query's keyword and vector chunk rankings. */
async function tune(
  url: string,
  key: string,
  evaluated: string[],
  queries: Map<string, string>,
  qrels: Map<string, Set<string>>,
  concurrency: number,
) {
  const rankings = new Map<string, { vector: string[]; keyword: string[]; documentOf: Map<string, string> }>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < evaluated.length) {
        const queryId = evaluated[next++]!;
        const [vector, keyword] = await Promise.all(
          ["vector", "keyword"].map((mode) => search(url, key, queries.get(queryId)!, mode as Mode, "chunk")),
        );
        const documentOf = new Map([...vector!.chunks, ...keyword!.chunks].map((chunk) => [chunk.id, chunk.document_id]));
        rankings.set(queryId, { vector: vector!.chunks.map((c) => c.id), keyword: keyword!.chunks.map((c) => c.id), documentOf });
      }
    }),
  );
  console.log("\nhybrid nDCG@10 by dense weight (keyword weight 1) and k:");
  const weights = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0];
  console.log(`| k \\ w | ${weights.join(" | ")} |`);
  for (const k of [10, 30, 60, 100]) {
    const cells = weights.map((weight) => {
      let total = 0;
      for (const [queryId, { vector, keyword, documentOf }] of rankings) {
        const fused = reciprocalRankFusion([vector, keyword], k, [weight, 1]);
        const documents = [...new Set(fused.map((item) => documentOf.get(item.id)!))];
        total += ndcgAt10(documents, qrels.get(queryId)!);
      }
      return (total / rankings.size).toFixed(4);
    });
    console.log(`| ${k} | ${cells.join(" | ")} |`);
  }
}

await main();
