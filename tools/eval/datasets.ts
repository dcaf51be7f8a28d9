/**
 * The evaluation data sets, read in place from the shared data folder (never copied into the
 * repo): BEIR SciFact (train) and XQuAD English. The folder is `EDGE_RAG_DATA_DIR` when set, else
 * the first `shared/data` found beside the checkout or one level up (a git worktree under
 * `wt/<name>/` sits one level deeper than the main checkout).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT } from "../stack/paths";

export function dataDir(): string {
  const candidates = process.env.EDGE_RAG_DATA_DIR
    ? [resolve(process.env.EDGE_RAG_DATA_DIR)]
    : [join(ROOT, "..", "shared", "data"), join(ROOT, "..", "..", "shared", "data")];
  const found = candidates.find((dir) => existsSync(join(dir, "scifact")));
  if (!found) throw new Error(`evaluation data not found (looked in ${candidates.join(", ")}; set EDGE_RAG_DATA_DIR)`);
  return found;
}

export interface EvalSet {
  /** The corpus file, in a format `edge-rag ingest` reads ({_id,title,text} JSONL). */
  corpus: string;
  /** query id → text, in file order. */
  queries: Map<string, string>;
  /** query id → the corpus ids judged relevant (score > 0). */
  qrels: Map<string, Set<string>>;
  /** The judged query ids, in qrels order (the order splits are taken in). */
  judged: string[];
}

function readJsonl<T>(file: string): T[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T);
}

function readQrels(file: string): Map<string, Set<string>> {
  const qrels = new Map<string, Set<string>>();
  const [, ...rows] = readFileSync(file, "utf8").split("\n").filter(Boolean);
  for (const row of rows) {
    const [queryId, corpusId, score] = row.split("\t");
    if (!queryId || !corpusId || !(Number(score) > 0)) continue;
    if (!qrels.has(queryId)) qrels.set(queryId, new Set());
    qrels.get(queryId)!.add(corpusId);
  }
  return qrels;
}

function evalSet(dir: string, corpus: string, queriesFile: string, qrelsFile: string): EvalSet {
  const queries = new Map(readJsonl<{ _id: string; text: string }>(join(dir, queriesFile)).map((query) => [query._id, query.text]));
  const qrels = readQrels(join(dir, qrelsFile));
  return { corpus: join(dir, corpus), queries, qrels, judged: [...qrels.keys()].filter((id) => queries.has(id)) };
}

export const scifact = (): EvalSet => evalSet(join(dataDir(), "scifact"), "corpus.jsonl.gz", "queries-train.jsonl", "qrels-train.tsv");
export const xquad = (): EvalSet => evalSet(join(dataDir(), "xquad-en"), "corpus.jsonl", "queries.jsonl", "qrels.tsv");

/**
 * The fixed split of SciFact train: every 5th judged query (positions 4, 9, 14, … in qrels order)
 * is held out; fusion is tuned on the rest only, and the held-out slice says whether the tuning
 * generalises. Deterministic: no seed, no shuffle.
 */
export function split<T>(judged: readonly T[]): { tuning: T[]; heldOut: T[] } {
  return {
    tuning: judged.filter((_, index) => !inFold(index, HELD_OUT_FOLD)),
    heldOut: judged.filter((_, index) => inFold(index, HELD_OUT_FOLD)),
  };
}

/** The folds of the tune step's cross-validation: fold f holds positions f, f + 5, …; the held-out slice is fold 4. */
export const FOLDS = 5;
const HELD_OUT_FOLD = FOLDS - 1;
export const inFold = (index: number, fold: number) => index % FOLDS === fold;

/**
 * `npm run eval -- --tune`'s dump (.cache/eval/scifact-rankings.json): each SciFact query's top-100
 * vector and keyword chunks with their scores, and each chunk's document. The fusion grid and the
 * probes read it back.
 */
export interface DumpedRankings {
  vector: { ids: string[]; scores: number[] };
  keyword: { ids: string[]; scores: number[] };
  documentOf: Record<string, string>;
}

export const readRankings = (file: string): Map<string, DumpedRankings> =>
  new Map(Object.entries(JSON.parse(readFileSync(file, "utf8")) as Record<string, DumpedRankings>));
