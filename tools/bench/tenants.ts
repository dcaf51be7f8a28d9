import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateApiKey } from "../../src/auth/api-keys";
import type { SourceDocument } from "../../src/ingest/source-files";
import { apiKeysInsert } from "../cli/credentials";
import { wrangler } from "../stack/wrangler";
import { measureIngest, postDocuments, waitForJobs } from "./ingestion";
import { percentile, runLoad } from "./load";
import { bar, progress, step } from "./progress";
import { jsonPost, type Target } from "./target";

/**
 * The tenant-count section (`npm run bench -- --tenants 1,100,1000,5000`, issue 23): does one
 * tenant's cost stay flat while the deployment holds more tenants? At each count the stack gets
 * that many tenants, each with one small document indexed through the API (so each one's data
 * exists: its object now, its FTS5 table and triggers in D1 before issue 23), then the bench's own
 * tenant is measured: its ingest rate, its query-miss p95 and its GET /v1/stats latency, each
 * also as a cost ratio to the 1-tenant figure (goal ≤ 1.1× at 5,000).
 *
 * The 1-tenant figure is measured side by side: a second stack of the same code holds only the
 * bench's tenant, with the same documents, and at each count the two are measured in alternating
 * rounds (A B B A …), each round the same work on both. So whatever else loads the machine loads
 * both sides alike, and the ratio at count 1 (two identical deployments) shows the noise left.
 *
 * Tenants are made the product's way: API keys written into D1 as `edge-rag keys create` writes
 * them (one `wrangler d1 execute` per count, all of that count's new keys in one statement), then
 * one POST /v1/documents per tenant with its own key. Local stack only (it writes the stack's D1).
 */
export interface TenantRow extends TenantFigure {
  /** Tenants in the deployment, the measured one included. */
  count: number;
  /** The side-by-side 1-tenant deployment's figures, measured in the same rounds. */
  baseline: TenantFigure;
  /** Cost ratios to the 1-tenant deployment (> 1: slower): its docs/s ÷ docs/s here, p95 here ÷ its p95, stats here ÷ its stats. */
  ingest_ratio: number;
  query_ratio: number;
  stats_ratio: number;
  /** Wall seconds to add this count's new tenants (keys, then one document each until indexed). */
  populate_s: number;
  /** Documents of the measured ingest that failed to index. */
  ingest_failed: number;
}

/** One deployment's figures for the measured tenant at one count. */
export interface TenantFigure {
  ingest_docs_per_s: number;
  query_p95_ms: number;
  /** The query misses' median: whether a p95 that moved took the whole distribution with it. */
  query_p50_ms: number;
  /** Median of the sequential GET /v1/stats calls. */
  stats_ms: number;
}

export interface TenantFigures {
  /** Alternating rounds per count (each measures both deployments). */
  rounds: number;
  /** Client requests in flight while tenants are populated. */
  populateConcurrency: number;
  /** Documents the measured tenant ingests at each count (new ids each time), and queries/stats calls per count. */
  ingestDocuments: number;
  requests: number;
  /** The measured tenant's documents before the first count (the main ingest). */
  measuredTenantDocuments: number;
  rows: TenantRow[];
}

/** What one count measured, before the ratios. */
export type TenantMeasure = Omit<TenantRow, "ingest_ratio" | "query_ratio" | "stats_ratio">;

export const POPULATE_CONCURRENCY = 8;
/** Alternating rounds per count: each side goes first in half of them. */
export const TENANT_ROUNDS = 4;
/** The measured tenant is the bench's own; the others are named in order, so a count adds the next ones. */
export const tenantName = (index: number) => `tenant-${String(index).padStart(6, "0")}`;

/** Each count's figures with its cost ratios to the 1-tenant deployment measured beside it. */
export function tenantRows(measures: TenantMeasure[]): TenantRow[] {
  return measures.map((measure) => ({
    ...measure,
    ingest_ratio: measure.baseline.ingest_docs_per_s / measure.ingest_docs_per_s,
    query_ratio: measure.query_p95_ms / measure.baseline.query_p95_ms,
    stats_ratio: measure.stats_ms / measure.baseline.stats_ms,
  }));
}

const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "–");
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "–");

/** The Markdown table of the tenant-count section. */
export function renderTenants(figures: TenantFigures): string {
  const worst = (row: TenantRow) => Math.max(row.ingest_ratio, row.query_ratio, row.stats_ratio);
  const last = figures.rows.at(-1);
  const lines = [
    `One tenant measured while the deployment holds N tenants, each of the others with one small document indexed through the API ` +
      `(populated ${figures.populateConcurrency} requests at a time), beside a deployment of the same code that holds only that tenant ` +
      `(1 tenant), measured in ${figures.rounds} alternating rounds per count. The measured tenant held ${figures.measuredTenantDocuments} documents ` +
      `on both, and at each count ingests ${figures.ingestDocuments} new ones on each (client batches of 100, first POST to last job done), then asks ` +
      `${figures.requests} never-cached questions (POST /v1/query, \`cache: false\`, concurrency 1) and calls GET /v1/stats ${figures.requests} times in turn (median). ` +
      "Ratios are costs against the 1-tenant deployment (> 1 is slower; for ingest, its documents/s ÷ documents/s at N); at 1 tenant they show the noise. " +
      "Goal: ≤ 1.10× at 5,000 tenants.",
    "",
    "| tenants | populate s | ingest docs/s (1 tenant) | ingest ÷ 1 | query-miss p95 ms (1 tenant) | query ÷ 1 | query-miss p50 ms (1 tenant) | stats ms (1 tenant) | stats ÷ 1 |",
    "|---|---|---|---|---|---|---|---|---|",
    ...figures.rows.map(
      (row) =>
        `| ${row.count} | ${f(row.populate_s)} | ${f(row.ingest_docs_per_s)} (${f(row.baseline.ingest_docs_per_s)}) | ${ratio(row.ingest_ratio)} | ` +
        `${f(row.query_p95_ms)} (${f(row.baseline.query_p95_ms)}) | ${ratio(row.query_ratio)} | ${f(row.query_p50_ms)} (${f(row.baseline.query_p50_ms)}) | ${f(row.stats_ms)} (${f(row.baseline.stats_ms)}) | ${ratio(row.stats_ratio)} |`,
    ),
  ];
  if (last && last.count > 1)
    lines.push(
      "",
      `At ${last.count} tenants the largest ratio is **${ratio(worst(last))}**` +
        (last.count >= 5000 ? ` (${worst(last) <= 1.1 ? "goal met" : "goal MISSED"}).` : " (the goal is stated at 5,000)."),
    );
  const failed = figures.rows.reduce((sum, row) => sum + row.ingest_failed, 0);
  if (failed > 0) lines.push("", `**${failed} document(s) of the measured ingests failed to index.**`);
  return `${lines.join("\n")}\n`;
}

/**
 * Writes an admin key for each of `tenants` into the local D1 under `stateDir`, with the wrangler
 * of the checkout at `root` (the stack's own: its wrangler.toml names the database). Returns
 * tenant → key. The stack has applied the migrations already.
 */
export async function createTenantKeys(options: { root: string; stateDir: string; tenants: string[] }): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  const rows = [];
  for (const tenant of options.tenants) {
    const { id, key, secretHash } = await generateApiKey();
    keys.set(tenant, key);
    rows.push({ id, tenant, name: "bench tenant", roles: ["admin" as const], secretHash, createdAt: Date.now(), expiresAt: null });
  }
  if (rows.length === 0) return keys;
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-tenants-"));
  const file = join(dir, "keys.sql");
  // 500 rows a statement: one statement of thousands would be one huge bound string for nothing.
  const statements = [];
  for (let i = 0; i < rows.length; i += 500) statements.push(apiKeysInsert(rows.slice(i, i + 500)));
  writeFileSync(file, statements.join("\n"), { mode: 0o600 });
  try {
    await wrangler(["d1", "execute", "DB", "--local", "--persist-to", options.stateDir, "--file", file], () => {}, options.root);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return keys;
}

/** The one small document each populated tenant holds. */
export const tenantDocument = (tenant: string): SourceDocument => ({
  id: "only",
  text: `${tenant} keeps one short note: glaciers in the valley retreated four metres this year, and the meltwater carried fine silt downstream.`,
});

/** Runs `work` over `items`, `concurrency` at a time, in order. */
async function pool<T>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

/**
 * Gives each tenant its key and one document, and waits until every document is indexed (a failed
 * one throws). All are posted first, `concurrency` at a time, so the queue's batches fill with many
 * tenants' messages; then the jobs are awaited one by one in posting order: the queue finishes them
 * roughly in that order, so most are done by their turn and cost one GET, where polling them all at
 * once would load the worker being measured.
 */
export async function populateTenants(
  url: string,
  keys: Map<string, string>,
  concurrency = POPULATE_CONCURRENCY,
): Promise<{ postSeconds: number }> {
  const started = performance.now();
  const tenants = [...keys.keys()];
  const jobs: Array<{ target: Target; job: string }> = [];
  let posted = 0;
  await pool(tenants, concurrency, async (tenant, i) => {
    const target = { url, key: keys.get(tenant)! };
    jobs[i] = { target, job: await postDocuments(target, [tenantDocument(tenant)], "tenant") };
    progress(bar("tenants: posted", ++posted, tenants.length));
  });
  const postSeconds = (performance.now() - started) / 1000;
  for (const [i, { target, job }] of jobs.entries()) {
    const totals = await waitForJobs(target, [job]);
    if (totals.failed > 0 || totals.documents !== 1) throw new Error(`tenant document of job ${job} did not index`);
    progress(bar("tenants: indexed", i + 1, jobs.length));
  }
  return { postSeconds };
}

/** What the rounds of one deployment at one count gathered, pooled. */
interface Pooled {
  documents: number;
  failed: number;
  ingestSeconds: number;
  queryMs: number[];
  statsMs: number[];
}

/**
 * One round on one deployment: ingest `documents` (new ids), ask `questions` (never cached), call
 * GET /v1/stats `statsCalls` times; everything in turn, at concurrency 1. Throws on any non-200.
 */
async function measureRound(
  target: Target,
  label: string,
  work: { documents: SourceDocument[]; collection: string; questions: string[]; statsCalls: number },
  into: Pooled,
): Promise<void> {
  const headers = { authorization: `Bearer ${target.key}` };
  const ingest = await measureIngest(target, work.documents, {
    batchSize: 100,
    collection: work.collection,
    progress: (text) => progress(`${label}: ${text}`),
  });
  into.documents += ingest.documents;
  into.failed += ingest.failed;
  into.ingestSeconds += ingest.seconds;
  for (const [what, request, samples] of [
    ["query", (i: number) => jsonPost(target, "/v1/query", { query: work.questions[i], cache: false }), into.queryMs],
    ["stats", () => fetch(`${target.url}/v1/stats`, { headers, signal: AbortSignal.timeout(60_000) }), into.statsMs],
  ] as const) {
    const run = await runLoad({ concurrency: 1, count: what === "query" ? work.questions.length : work.statsCalls, request });
    const failed = run.samples.filter((sample) => sample.status !== 200);
    if (failed.length > 0) throw new Error(`${label}: ${what} answered ${failed.map((sample) => sample.status).join(", ")}`);
    samples.push(...run.samples.map((sample) => sample.ms));
  }
}

const figureOf = (pooled: Pooled): TenantFigure => {
  const [queries, stats] = [pooled.queryMs, pooled.statsMs].map((values) => [...values].sort((a, b) => a - b)) as [number[], number[]];
  return {
    ingest_docs_per_s: pooled.documents / pooled.ingestSeconds,
    query_p95_ms: percentile(queries, 95),
    query_p50_ms: percentile(queries, 50),
    stats_ms: percentile(stats, 50),
  };
};

/** Splits `items` into `parts` runs of near-equal length, in order. */
const split = <T>(items: T[], parts: number): T[][] =>
  Array.from({ length: parts }, (_, part) =>
    items.slice(Math.floor((part * items.length) / parts), Math.floor(((part + 1) * items.length) / parts)),
  );

/**
 * Measures the bench's tenant (`target`) at each count in `counts` (ascending), adding the tenants
 * each count needs on top of the previous one's, against `baseline` (a deployment of the same code
 * holding only the bench's tenant, with the same documents) in `rounds` alternating rounds. `root`
 * and `stateDir` are the measured stack's checkout and state directory (where the keys go).
 */
export async function measureTenants(
  target: Target,
  options: {
    baseline: Target;
    rounds: number;
    counts: number[];
    root: string;
    stateDir: string;
    documents: SourceDocument[];
    questions: string[];
    requests: number;
    measuredTenantDocuments: number;
  },
): Promise<TenantFigures> {
  const measures: TenantMeasure[] = [];
  let others = 0;
  for (const count of options.counts) {
    const started = performance.now();
    const added = Array.from({ length: count - 1 - others }, (_, i) => tenantName(others + i + 1));
    if (added.length > 0) {
      step(`tenants: adding ${added.length} tenants (${count} in all)…`);
      const keys = await createTenantKeys({ root: options.root, stateDir: options.stateDir, tenants: added });
      step(`tenants: ${added.length} keys written in ${((performance.now() - started) / 1000).toFixed(1)} s; one document each…`);
      const { postSeconds } = await populateTenants(target.url, keys);
      step(`tenants: ${added.length} documents posted in ${postSeconds.toFixed(1)} s`);
    }
    others = count - 1;
    const populateSeconds = (performance.now() - started) / 1000;
    step(`tenants: ${count} tenants (${populateSeconds.toFixed(1)} s to add them); measuring the bench tenant beside 1 tenant…`);
    const sides = [
      { name: `tenants ${count}`, target, pooled: { documents: 0, failed: 0, ingestSeconds: 0, queryMs: [], statsMs: [] } as Pooled },
      {
        name: `tenants ${count} (1 tenant)`,
        target: options.baseline,
        pooled: { documents: 0, failed: 0, ingestSeconds: 0, queryMs: [], statsMs: [] } as Pooled,
      },
    ];
    // A few calls first: the object (or D1's connection) may have to start after the population.
    for (const side of sides)
      for (let i = 0; i < 3; i++)
        await (await fetch(`${side.target.url}/v1/stats`, { headers: { authorization: `Bearer ${side.target.key}` } })).body?.cancel();
    const documents = split(
      options.documents.map((doc) => ({ ...doc, id: `${doc.id}.t${count}` })),
      options.rounds,
    );
    const questions = split(options.questions.slice(0, options.requests), options.rounds);
    const statsCalls = split(Array.from({ length: options.requests }), options.rounds).map((calls) => calls.length);
    for (let round = 0; round < options.rounds; round++) {
      // A B, then B A: neither side always goes first (a warmer cache, a quieter moment).
      for (const side of round % 2 === 0 ? sides : [...sides].reverse())
        await measureRound(
          side.target,
          `${side.name}, round ${round + 1}`,
          { documents: documents[round]!, collection: `tenants-${count}`, questions: questions[round]!, statsCalls: statsCalls[round]! },
          side.pooled,
        );
    }
    const [measured, one] = sides.map((side) => figureOf(side.pooled)) as [TenantFigure, TenantFigure];
    measures.push({
      count,
      ...measured,
      baseline: one,
      populate_s: populateSeconds,
      ingest_failed: sides[0]!.pooled.failed + sides[1]!.pooled.failed,
    });
    step(
      `tenants ${count}: ingest ${measured.ingest_docs_per_s.toFixed(1)} docs/s (1 tenant: ${one.ingest_docs_per_s.toFixed(1)}), ` +
        `query-miss p95 ${measured.query_p95_ms.toFixed(0)} ms (${one.query_p95_ms.toFixed(0)}), stats ${measured.stats_ms.toFixed(1)} ms (${one.stats_ms.toFixed(1)})`,
    );
  }
  return {
    rounds: options.rounds,
    populateConcurrency: POPULATE_CONCURRENCY,
    ingestDocuments: options.documents.length,
    requests: options.requests,
    measuredTenantDocuments: options.measuredTenantDocuments,
    rows: tenantRows(measures),
  };
}
