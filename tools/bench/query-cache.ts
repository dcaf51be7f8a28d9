/**
 * The query cache's benchmark: one local stack, one run, every figure side by side so that a noisy
 * machine shows up as ratios rather than as absolute drift.
 *
 *   npm run bench:cache                    # 500 SciFact documents, 200 requests per cell
 *   npm run bench:cache -- --docs 200 --requests 100
 *
 * For concurrency 1 and 16 it measures p50/p95 latency and throughput of:
 * - bare:        GET /health (no auth, no dependency): the floor of the worker and the HTTP hop;
 * - auth:        GET /v1/me (the API key checked, nothing else): what authentication adds;
 * - limited:     GET /v1/documents/{an id that does not exist} (auth, the rate limiter's Redis
 *                commands, one D1 read, a 404): what the rate limiter adds, which a hit pays too;
 * - hit:         POST /v1/query of questions answered before (served by the query cache);
 * - miss:        POST /v1/query of questions never asked (embed, retrieve, generate, then cached);
 * - origin-down: POST /v1/query with the origin stopped (keyword retrieval, edge answer), cache: false.
 * It prints a Markdown table and the ratios the cache issue set as goals.
 */
import { rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createApiKey } from "../cli/credentials";
import { ingest } from "../cli/ingest";
import { freePort } from "../lib/ports";
import { ROOT } from "../stack/paths";
import { type Stack, startStack } from "../stack/stack";
import { readDocuments, readQuestions, scifactDir } from "./corpus";

const { values } = parseArgs({
  options: {
    docs: { type: "string", default: "500" },
    requests: { type: "string", default: "200" },
  },
});
const DOCS = Number(values.docs);
const REQUESTS = Number(values.requests);
const CONCURRENCIES = [1, 16] as const;

interface Cell {
  scenario: string;
  concurrency: number;
  p50: number;
  p95: number;
  throughput: number;
  statuses: Record<string, number>;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Sends `count` requests from `concurrency` clients; `request(i)` makes the i-th. */
async function measure(scenario: string, concurrency: number, count: number, request: (i: number) => Promise<Response>): Promise<Cell> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        const response = await request(i);
        const body = await response.text();
        latencies.push(performance.now() - t0);
        const cache = response.headers.get("cache-status")?.includes("; hit") ? "/cached" : "";
        const key = `${response.status}${cache}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (response.status >= 500) throw new Error(`${scenario}: ${response.status} ${body.slice(0, 200)}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { scenario, concurrency, p50: percentile(latencies, 50), p95: percentile(latencies, 95), throughput: count / seconds, statuses };
}

async function main() {
  const stateDir = join(ROOT, ".cache", "bench-cache");
  rmSync(stateDir, { recursive: true, force: true });
  let stack: Stack | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130)));
  try {
    console.error("starting a local stack…");
    stack = await startStack({
      port: await freePort(),
      stateDir,
      // One client sending thousands of requests: lift the limits it is not measuring.
      workerVars: {
        RATE_LIMIT_QUERY: "1000000/60s",
        RATE_LIMIT_INGEST: "100000/60s",
        TENANT_RATE_LIMIT_QUERY: "1000000/60s",
        TENANT_RATE_LIMIT_INGEST: "100000/60s",
      },
      log: () => {},
    });
    const { url } = stack;
    const { key } = await createApiKey({ tenant: "bench", roles: "admin", name: "bench", "persist-to": stateDir });

    const corpusFile = join(stateDir, "corpus.jsonl");
    // Found beside the checkout or beside a worktree's folder (corpus.ts), read in place.
    const dataDir = scifactDir();
    writeFileSync(corpusFile, `${(await readDocuments(dataDir, DOCS)).map((doc) => JSON.stringify(doc)).join("\n")}\n`);
    const ingestStarted = performance.now();
    await ingest(corpusFile, { url, key, collection: "scifact", batchSize: 100, restart: true, stateDir: join(stateDir, "ingest-state") });
    console.error(`\ningested ${DOCS} documents in ${((performance.now() - ingestStarted) / 1000).toFixed(1)} s`);

    const questions = readQuestions(dataDir);
    const needed = REQUESTS * CONCURRENCIES.length + 50;
    if (questions.length < needed) throw new Error(`need ${needed} distinct questions for the miss cells; lower --requests`);
    const warm = questions.slice(0, 20);
    let unasked = 20;
    const authorization = { authorization: `Bearer ${key}` };
    const query = (body: object) =>
      fetch(`${url}/v1/query`, {
        method: "POST",
        headers: { ...authorization, "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    // Warm-up: JIT, connections, and the questions the hit cells repeat (their answers get cached).
    for (const question of warm) await (await query({ query: question })).text();
    for (let i = 0; i < 50; i++) await (await fetch(`${url}/health`)).text();

    const cells: Cell[] = [];
    for (const concurrency of CONCURRENCIES) {
      cells.push(await measure("bare", concurrency, REQUESTS, () => fetch(`${url}/health`)));
      cells.push(await measure("auth", concurrency, REQUESTS, () => fetch(`${url}/v1/me`, { headers: authorization })));
      cells.push(
        await measure("limited", concurrency, REQUESTS, () => fetch(`${url}/v1/documents/not-stored`, { headers: authorization })),
      );
      cells.push(await measure("hit", concurrency, REQUESTS, (i) => query({ query: warm[i % warm.length] })));
      cells.push(await measure("miss", concurrency, REQUESTS, () => query({ query: questions[unasked++] })));
      console.error(`concurrency ${concurrency}: done`);
    }
    await stack.stopOrigin();
    for (const concurrency of CONCURRENCIES) {
      cells.push(await measure("origin-down", concurrency, REQUESTS, (i) => query({ query: questions[i % 200], cache: false })));
    }

    const of = (scenario: string, concurrency: number) =>
      cells.find((cell) => cell.scenario === scenario && cell.concurrency === concurrency)!;
    console.log(
      `\nQuery cache benchmark: ${DOCS} SciFact documents, ${REQUESTS} requests per cell, ${cpus().length} cores, Node ${process.version}`,
    );
    console.log("| scenario | concurrency | p50 ms | p95 ms | requests/s | throughput ÷ bare | p50 ÷ bare | statuses |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const cell of cells) {
      const bare = of("bare", cell.concurrency);
      const statuses = Object.entries(cell.statuses)
        .map(([status, n]) => `${status}×${n}`)
        .join(" ");
      console.log(
        `| ${cell.scenario} | ${cell.concurrency} | ${cell.p50.toFixed(1)} | ${cell.p95.toFixed(1)} | ${cell.throughput.toFixed(1)} | ${(cell.throughput / bare.throughput).toFixed(2)} | ${(cell.p50 / bare.p50).toFixed(2)} | ${statuses} |`,
      );
    }
    const hit16 = of("hit", 16).throughput / of("bare", 16).throughput;
    const hitP50 = of("hit", 1).p50 / of("bare", 1).p50;
    console.log(`\ngoals: hit throughput ≥ 0.5× bare at concurrency 16: ${hit16.toFixed(2)}× ${hit16 >= 0.5 ? "(met)" : "(MISSED)"}`);
    console.log(`       hit p50 within 2× bare at concurrency 1: ${hitP50.toFixed(2)}× ${hitP50 <= 2 ? "(met)" : "(MISSED)"}`);
    console.log(
      `       miss p95 at concurrency 1 ≤ 94.5 ms (before the cache): ${of("miss", 1).p95.toFixed(1)} ms ${of("miss", 1).p95 <= 94.5 ? "(met)" : "(MISSED)"}`,
    );
  } finally {
    await stack?.stop();
  }
}

await main();
