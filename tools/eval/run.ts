/**
 * Retrieval quality through the public API (`POST /v1/search`), on two labelled data sets:
 *
 * - BEIR SciFact train (5,183 abstracts, 809 judged claims): nDCG@10, recall@100 and p50/p95
 *   latency per mode (keyword, vector, hybrid), on all of train and on its fixed tuning and
 *   held-out slices (datasets.ts: every 5th judged query is held out; fusion is tuned on the rest).
 * - XQuAD English (240 paragraphs, 1,190 questions): recall@1 and recall@5 — does the paragraph
 *   that holds the answer come back first, or in the first five.
 * - Multi-turn, from XQuAD (multi-turn.ts): a first question, then an elliptical follow-up whose
 *   answer is in a known paragraph, asked through POST /v1/chat/completions. recall@5 of the
 *   follow-up with the history (condensed into a standalone question) and without it (the
 *   follow-up alone, as a system without conversations would search it), the paired gain with its
 *   standard error and 95% interval, and the original question as the upper bound.
 *
 *   npm run eval                         # starts its own stack (state in .cache/scifact-eval)
 *   npm run eval -- --url <u> --key <k>  # against a running stack (admin or writer+reader key)
 *   options: --queries <n> (first n judged queries of each set), --concurrency <n> (default 4),
 *            --only-multi-turn (XQuAD's multi-turn set alone: no SciFact, no XQuAD table),
 *            --fresh (new state dir), --skip-xquad, --worker-var NAME=VALUE (repeatable: a worker
 *            setting for the stack this starts, e.g. FUSION=rrf to measure the previous fusion),
 *            --tune (dump each SciFact query's top-100 keyword and vector chunks with their
 *            scores via `explain: true`, then grid-search the fusion offline with the worker's own
 *            fuse() on the tuning slice and report the best settings on both slices, then
 *            cross-validate that choice over five folds),
 *            --tune-from <file> (only the offline grid, over an earlier run's dump; no stack),
 *            --guard-tolerance <x> (default 0)
 *
 * Guard: on SciFact train (all 809 queries), a mode that uses BM25 (hybrid) must not score below
 * BM25 alone (keyword) on nDCG@10 by more than the tolerance; otherwise the run says so loudly
 * and exits 1, so a fusion or ranking change that makes hybrid worse than its own keyword half
 * cannot pass unnoticed. The margins on the tuning and held-out slices are printed beside it.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { type FusionOptions, fuse } from "../../src/retrieval/fusion";
import { createApiKey } from "../cli/credentials";
import { ingest } from "../cli/ingest";
import { freePort } from "../lib/ports";
import { ROOT } from "../stack/paths";
import { type Stack, startStack } from "../stack/stack";
import { type DumpedRankings, type EvalSet, FOLDS, inFold, readRankings, scifact, split, xquad } from "./datasets";
import { documentsOf, mean, ndcgAt10, pairedGain, percentile, recallAt } from "./metrics";
import { type TwoTurns, twoTurnSet } from "./multi-turn";

const MODES = ["keyword", "vector", "hybrid"] as const;
type Mode = (typeof MODES)[number];
/** Modes that use BM25, and must not fall below it. */
const BM25_MODES: Mode[] = ["hybrid"];

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    key: { type: "string" },
    queries: { type: "string" },
    concurrency: { type: "string", default: "4" },
    fresh: { type: "boolean", default: false },
    "skip-xquad": { type: "boolean", default: false },
    "only-multi-turn": { type: "boolean", default: false },
    "worker-var": { type: "string", multiple: true, default: [] },
    tune: { type: "boolean", default: false },
    "tune-from": { type: "string" },
    "guard-tolerance": { type: "string", default: "0" },
  },
});

interface Hit {
  id: string;
  document_id: string;
  scores?: { vector: number | null; keyword: number | null };
}

async function search(
  url: string,
  key: string,
  body: { query: string; mode: Mode; top_k: number; group_by: "document" | "chunk"; collection: string; explain?: boolean },
): Promise<{ results: Hit[]; ms: number }> {
  const { collection, ...rest } = body;
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    const response = await fetch(`${url}/v1/search`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      // cache: false — latency is the retrieval's, not a cache hit's.
      body: JSON.stringify({ ...rest, cache: false, filters: { collection } }),
    });
    const ms = performance.now() - started;
    if (response.status === 429 && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get("retry-after") ?? 1) * 1000));
      continue;
    }
    const answer = (await response.json()) as { results?: Hit[]; detail?: string };
    if (!response.ok || !answer.results) throw new Error(`search failed (${response.status}): ${answer.detail ?? ""}`);
    return { results: answer.results, ms };
  }
}

interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

/** POST /v1/chat/completions on one collection, uncached: the documents of its sources, best first, and the standalone question. */
async function chat(url: string, key: string, collection: string, messages: ChatTurn[]): Promise<{ ranked: string[]; standalone: string }> {
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: `edge-rag/${collection}`, messages, top_k: 5, cache: false }),
      });
    } catch (error) {
      // A connection the local dev server dropped under load: the request changed nothing, so ask again.
      if (attempt < 3) continue;
      throw error;
    }
    if (response.status === 429 && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get("retry-after") ?? 1) * 1000));
      continue;
    }
    const body = (await response.json()) as {
      search_results?: Hit[];
      edge_rag?: { rewrite: { standalone_question: string } };
      error?: { message: string };
    };
    if (!response.ok || !body.search_results) throw new Error(`chat failed (${response.status}): ${body.error?.message ?? ""}`);
    return { ranked: documentsOf(body.search_results), standalone: body.edge_rag!.rewrite.standalone_question };
  }
}

/** Runs `task` over `items` with `concurrency` workers; results in input order. */
async function pool<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]!);
      }
    }),
  );
  return results;
}

interface Measured {
  queryId: string;
  ranked: string[];
  ms: number;
}

const limitOf = (list: string[]) => list.slice(0, values.queries ? Number(values.queries) : undefined);

async function main() {
  let stack: Stack | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130)));
  }
  const concurrency = Number(values.concurrency);
  const tolerance = Number(values["guard-tolerance"]);
  const workerVars = Object.fromEntries(
    values["worker-var"].map((pair) => {
      const at = pair.indexOf("=");
      if (at <= 0) throw new Error(`--worker-var ${pair}: expected NAME=VALUE`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  if (values["tune-from"]) {
    tune(values["tune-from"], scifact());
    return;
  }
  try {
    let url = values.url;
    let scifactKey = values.key;
    let xquadKey = values.key;
    if (!url || !scifactKey) {
      const stateDir = join(ROOT, ".cache", "scifact-eval");
      if (values.fresh) rmSync(stateDir, { recursive: true, force: true });
      console.error(`starting a local stack (state: ${stateDir})…`);
      stack = await startStack({
        port: await freePort(),
        stateDir,
        // The evaluation is one client sending thousands of requests: lift its limits.
        workerVars: { RATE_LIMIT_QUERY: "100000/60s", RATE_LIMIT_INGEST: "100000/60s", ...workerVars },
        log: () => {},
      });
      url = stack.url;
      // One tenant per data set: each keeps its own BM25 statistics (per-tenant keyword indexes).
      const key = (tenant: string) => createApiKey({ tenant, roles: "admin", name: "eval", "persist-to": stateDir });
      scifactKey = (await key("scifact-eval")).key;
      xquadKey = (await key("xquad-eval")).key;
    } else if (Object.keys(workerVars).length > 0) {
      throw new Error("--worker-var applies only to the stack this command starts (not with --url)");
    }

    const ingestInto = async (set: EvalSet, key: string, collection: string) => {
      const summary = await ingest(set.corpus, {
        url: url!,
        key,
        collection,
        batchSize: 100,
        restart: true,
        stateDir: join(ROOT, ".cache", "ingest-state"),
      });
      console.error(`\n${collection}: ${summary.documents} documents in ${summary.seconds.toFixed(1)} s (${summary.failed.length} failed)`);
      return summary;
    };

    /** Searches each query of a set in one mode, `concurrency` at a time: its documents, best first, and its latency. */
    const measure = (set: EvalSet, key: string, collection: string, queryIds: readonly string[], mode: Mode, top_k: number) =>
      pool(queryIds, concurrency, async (queryId): Promise<Measured> => {
        const { results, ms } = await search(url!, key, {
          query: set.queries.get(queryId)!,
          mode,
          top_k,
          group_by: "document",
          collection,
        });
        return { queryId, ranked: documentsOf(results), ms };
      });

    if (values["only-multi-turn"]) {
      await ingestInto(xquad(), xquadKey!, "xquad");
      await multiTurn(url, xquadKey!, concurrency);
      return;
    }

    // ── SciFact ──
    const sci = scifact();
    const sciSummary = await ingestInto(sci, scifactKey, "scifact");
    const evaluated = limitOf(sci.judged);
    const { tuning, heldOut } = split(evaluated);
    const byMode = new Map<Mode, Measured[]>();
    for (const mode of MODES) {
      byMode.set(mode, await measure(sci, scifactKey!, "scifact", evaluated, mode, 100));
      console.error(`scifact ${mode}: done`);
    }
    const slices = { train: evaluated, tuning, "held-out": heldOut } as const;
    const ndcg = new Map<string, number>();
    console.log(`\nBEIR SciFact train: ${sciSummary.documents} documents, concurrency ${concurrency}`);
    for (const [slice, ids] of Object.entries(slices)) {
      const inSlice = new Set(ids);
      console.log(`\n${slice} (${ids.length} queries)`);
      console.log("| mode    | nDCG@10 | recall@100 | p50 ms | p95 ms |");
      console.log("| ------- | ------- | ---------- | ------ | ------ |");
      for (const mode of MODES) {
        const rows = byMode.get(mode)!.filter((row) => inSlice.has(row.queryId));
        const value = mean(rows.map((row) => ndcgAt10(row.ranked, sci.qrels.get(row.queryId)!)));
        const recall = mean(rows.map((row) => recallAt(100, row.ranked, sci.qrels.get(row.queryId)!)));
        const latencies = rows.map((row) => row.ms).sort((a, b) => a - b);
        ndcg.set(`${slice}/${mode}`, value);
        console.log(
          `| ${mode.padEnd(7)} | ${value.toFixed(4)}  | ${recall.toFixed(4)}     | ${percentile(latencies, 50).toFixed(1).padStart(6)} | ${percentile(latencies, 95).toFixed(1).padStart(6)} |`,
        );
      }
    }

    if (values.tune) tune(await dumpRankings(url, scifactKey, sci, evaluated, concurrency), sci);

    // ── XQuAD ──
    if (!values["skip-xquad"]) {
      const xq = xquad();
      const xqSummary = await ingestInto(xq, xquadKey!, "xquad");
      const questions = limitOf(xq.judged);
      console.log(`\nXQuAD English: ${xqSummary.documents} paragraphs, ${questions.length} questions (gold paragraph in the top k)`);
      console.log("| mode    | recall@1 | recall@5 | p50 ms | p95 ms |");
      console.log("| ------- | -------- | -------- | ------ | ------ |");
      for (const mode of MODES) {
        const rows = await measure(xq, xquadKey!, "xquad", questions, mode, 5);
        const gold = (row: Measured) => xq.qrels.get(row.queryId)!;
        const hit = (k: number) => mean(rows.map((row) => (row.ranked.slice(0, k).some((id) => gold(row).has(id)) ? 1 : 0)));
        const latencies = rows.map((row) => row.ms).sort((a, b) => a - b);
        console.log(
          `| ${mode.padEnd(7)} | ${hit(1).toFixed(4)}   | ${hit(5).toFixed(4)}   | ${percentile(latencies, 50).toFixed(1).padStart(6)} | ${percentile(latencies, 95).toFixed(1).padStart(6)} |`,
        );
      }
      await multiTurn(url, xquadKey!, concurrency);
    }

    guard(ndcg, Object.keys(slices), tolerance);
  } finally {
    await stack?.stop();
  }
}

/**
 * The multi-turn set (multi-turn.ts) through POST /v1/chat/completions, hybrid, top 5 sources: the
 * follow-up with its history (condensed into a standalone question) against the follow-up alone.
 * Fails the run (exit 1) when the rewrite does not help: a gain whose 95% interval includes zero.
 */
async function multiTurn(url: string, key: string, concurrency: number) {
  const conversations = twoTurnSet().slice(0, values.queries ? Number(values.queries) : undefined);
  const hit = (ranked: string[], turns: TwoTurns) => (ranked.slice(0, 5).includes(turns.paragraph) ? 1 : 0);
  const rows = await pool(conversations, concurrency, async (turns) => {
    const history: ChatTurn[] = [
      { role: "user", content: turns.first },
      { role: "assistant", content: turns.firstAnswer },
    ];
    // One at a time per conversation: `concurrency` requests in flight in all.
    const withRewrite = await chat(url, key, "xquad", [...history, { role: "user", content: turns.followUp }]);
    const alone = await chat(url, key, "xquad", [{ role: "user", content: turns.followUp }]);
    const original = await chat(url, key, "xquad", [{ role: "user", content: turns.original }]);
    return {
      turns,
      withRewrite: hit(withRewrite.ranked, turns),
      alone: hit(alone.ranked, turns),
      original: hit(original.ranked, turns),
      standalone: withRewrite.standalone,
    };
  });
  const gain = pairedGain(
    rows.map((row) => row.withRewrite),
    rows.map((row) => row.alone),
  );
  const rewritten = rows.filter((row) => row.standalone !== row.turns.followUp).length;
  console.log(`\nMulti-turn (XQuAD): ${rows.length} conversations, a first question then an elliptical follow-up (names → "it")`);
  console.log(`e.g. "${rows[0]?.turns.first}" → "${rows[0]?.turns.followUp}", asked as "${rows[0]?.standalone}"`);
  console.log("| follow-up asked as | recall@5 |");
  console.log("| --- | --- |");
  console.log(`| alone (no rewrite) | ${mean(rows.map((row) => row.alone)).toFixed(4)} |`);
  console.log(
    `| with its history, condensed (${rewritten} of ${rows.length} rewritten) | ${mean(rows.map((row) => row.withRewrite)).toFixed(4)} |`,
  );
  console.log(`| the original XQuAD question (upper bound) | ${mean(rows.map((row) => row.original)).toFixed(4)} |`);
  const low = gain.mean - 1.96 * gain.se;
  console.log(
    `rewrite gain: ${gain.mean >= 0 ? "+" : ""}${gain.mean.toFixed(4)} ± ${gain.se.toFixed(4)} (SE, paired), 95% interval [${low.toFixed(4)}, ${(gain.mean + 1.96 * gain.se).toFixed(4)}]`,
  );
  if (low <= 0) {
    console.log("MULTI-TURN GUARD FAILED: the rewrite's gain is not clear of zero");
    process.exitCode = 1;
  }
}

/**
 * Fails the run (exit 1) when a BM25-using mode scores below keyword alone on all of SciFact train
 * by more than `tolerance`; the slices' margins are printed too (the held-out slice has 161
 * queries: its margins are within about ±0.005 of noise, see the grid's standard errors).
 */
function guard(ndcg: Map<string, number>, slices: string[], tolerance: number) {
  for (const slice of slices) {
    const bm25 = ndcg.get(`${slice}/keyword`)!;
    for (const mode of BM25_MODES) {
      const value = ndcg.get(`${slice}/${mode}`)!;
      const margin = value - bm25;
      console.log(
        `${slice}: ${mode} nDCG@10 ${value.toFixed(4)} vs BM25 alone ${bm25.toFixed(4)}: ${margin >= 0 ? "+" : ""}${margin.toFixed(4)}`,
      );
      if (slice === "train" && value < bm25 - tolerance) {
        console.error(
          `\nGUARD FAILED: ${mode} nDCG@10 ${value.toFixed(4)} < keyword (BM25 alone) ${bm25.toFixed(4)} − ${tolerance} on SciFact train`,
        );
        process.exitCode = 1;
      }
    }
  }
}

/**
 * The offline fusion search: each query's top-100 keyword and vector chunks with their scores
 * (`explain: true`), dumped to .cache/eval/scifact-rankings.json, then fused here with the
 * worker's own fuse() for every grid point. Settings are chosen on the tuning slice only.
 */
async function dumpRankings(url: string, key: string, sci: EvalSet, evaluated: string[], concurrency: number): Promise<string> {
  const dumped: Record<string, DumpedRankings> = {};
  await pool(evaluated, concurrency, async (queryId) => {
    const query = sci.queries.get(queryId)!;
    const [vector, keyword] = await Promise.all(
      (["vector", "keyword"] as const).map((mode) =>
        search(url, key, { query, mode, top_k: 100, group_by: "chunk", collection: "scifact", explain: true }),
      ),
    );
    const list = (hits: Hit[], stage: "vector" | "keyword") => ({
      ids: hits.map((hit) => hit.id),
      scores: hits.map((hit) => hit.scores?.[stage] ?? Number.NaN),
    });
    const documentOf = Object.fromEntries([...vector!.results, ...keyword!.results].map((hit) => [hit.id, hit.document_id]));
    dumped[queryId] = { vector: list(vector!.results, "vector"), keyword: list(keyword!.results, "keyword"), documentOf };
  });
  const file = join(ROOT, ".cache", "eval", "scifact-rankings.json");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(dumped));
  console.error(`rankings of ${evaluated.length} queries dumped to ${file}`);
  return file;
}

function tune(file: string, sci: EvalSet) {
  const dumped = readRankings(file);
  const judged = sci.judged.filter((id) => dumped.has(id));
  const { heldOut } = split(judged);
  // `candidates`: how many of each retriever's candidates take part (the worker takes
  // max(RETRIEVAL_CANDIDATES, top_k): 100 for the eval's top_k 100, 50 for a 5-source query).
  const perQuery = (ids: string[], options: FusionOptions | "keyword", candidates = 100) =>
    ids.map((queryId) => {
      const { vector, keyword, documentOf } = dumped.get(queryId)!;
      // As the worker fuses them: cosine's lowest possible score is −1, BM25's 0 (theoretical-min).
      const head = (list: DumpedRankings["vector"], lowest: number) => ({
        ids: list.ids.slice(0, candidates),
        scores: list.scores.slice(0, candidates),
        lowest,
      });
      const fused = options === "keyword" ? keyword.ids : fuse([head(vector, -1), head(keyword, 0)], options).map((item) => item.id);
      return ndcgAt10(documentsOf(fused.map((id) => ({ document_id: documentOf[id]! }))), sci.qrels.get(queryId)!);
    });
  const grid: Array<{ label: string; options: FusionOptions }> = [];
  for (const k of [1, 3, 5, 10, 20, 30, 60]) {
    for (const w of [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 1])
      grid.push({ label: `rrf k=${k} w=${w}`, options: { method: "rrf", k, weights: [w, 1] } });
  }
  for (const normalization of ["min-max", "theoretical-min", "z-score"] as const) {
    for (const w of [0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5]) {
      grid.push({ label: `convex ${normalization} w=${w}`, options: { method: "convex", normalization, weights: [w, 1 - w] } });
    }
  }
  // Every setting's nDCG@10 per judged query, once, for the grid and its cross-validation.
  const bm25 = perQuery(judged, "keyword");
  const scored = grid.map((point) => ({ ...point, values: perQuery(judged, point.options) }));
  const base = split(bm25);
  const results = scored
    .map((point) => {
      const values = split(point.values).tuning;
      const gain = pairedGain(values, base.tuning);
      return { ...point, ndcg: mean(values), gain, bound: gain.mean - gain.se };
    })
    .sort((a, b) => b.bound - a.bound);
  console.log(`\nfusion grid, offline over ${dumped.size} queries' dumped rankings (${file}); nDCG@10`);
  console.log(
    "(w: dense weight; keyword weight 1 for rrf, 1 − w for convex; Δ: mean gain over BM25 alone ± its standard error; " +
      "ordered by the tuning slice's Δ − SE; 50 cand.: each retriever's first 50 candidates only)",
  );
  console.log("| fusion | tuning | Δ tuning | held-out | Δ held-out | held-out, 50 cand. |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  console.log(`| keyword (BM25 alone) | ${fmt(mean(base.tuning))} | | ${fmt(mean(base.heldOut))} | | ${fmt(mean(base.heldOut))} |`);
  const best = (method: string) => results.filter((result) => result.label.startsWith(method)).slice(0, 3);
  for (const method of ["rrf", "convex min-max", "convex theoretical-min", "convex z-score"]) {
    for (const result of best(method)) {
      const held = split(result.values).heldOut;
      const heldGain = pairedGain(held, base.heldOut);
      console.log(
        `| ${result.label} | ${fmt(result.ndcg)} | ${signed(result.gain.mean)} ± ${fmt(result.gain.se)} | ${fmt(mean(held))} | ` +
          `${signed(heldGain.mean)} ± ${fmt(heldGain.se)} | ${fmt(mean(perQuery(heldOut, result.options, 50)))} |`,
      );
    }
  }
  console.log(`chosen on the tuning slice: ${results[0]!.label}`);
  crossValidate(scored, bm25);
}

const fmt = (value: number) => value.toFixed(4);
const signed = (value: number) => `${value >= 0 ? "+" : "−"}${fmt(Math.abs(value))}`;

/**
 * The same choice, cross-validated: each fold of the judged queries (datasets.ts; the last is the
 * held-out slice) is scored with the setting the other four folds choose by the grid's rule
 * (mean gain − one standard error), so every query is held out once. Pooled, the gain over BM25
 * alone rests on all 809 queries rather than 161, with about half the standard error.
 */
function crossValidate(scored: Array<{ label: string; values: number[] }>, bm25: number[]) {
  const pick = (values: number[], keep: (index: number) => boolean) => values.filter((_, index) => keep(index));
  const pooled = { fused: [] as number[], bm25: [] as number[] };
  console.log(
    `\n${FOLDS}-fold cross-validation of the fusion choice (fold f: judged queries f, f + ${FOLDS}, …; fold ${FOLDS - 1} is the held-out slice)`,
  );
  console.log("| held-out fold | queries | chosen on the other folds | BM25 alone | fused | Δ ± SE |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (let fold = 0; fold < FOLDS; fold++) {
    const outside = (index: number) => !inFold(index, fold);
    const inside = (index: number) => inFold(index, fold);
    const bounds = scored.map(({ values }) => {
      const gain = pairedGain(pick(values, outside), pick(bm25, outside));
      return gain.mean - gain.se;
    });
    const chosen = scored[bounds.indexOf(Math.max(...bounds))]!;
    const [fused, base] = [pick(chosen.values, inside), pick(bm25, inside)];
    const gain = pairedGain(fused, base);
    pooled.fused.push(...fused);
    pooled.bm25.push(...base);
    console.log(
      `| ${fold} | ${fused.length} | ${chosen.label} | ${fmt(mean(base))} | ${fmt(mean(fused))} | ${signed(gain.mean)} ± ${fmt(gain.se)} |`,
    );
  }
  const gain = pairedGain(pooled.fused, pooled.bm25);
  console.log(
    `| all, pooled | ${pooled.fused.length} | | ${fmt(mean(pooled.bm25))} | ${fmt(mean(pooled.fused))} | ${signed(gain.mean)} ± ${fmt(gain.se)} |`,
  );
}

await main();
