import { createReadStream, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { jsonLineDocument, type SourceDocument } from "../../src/ingest/source-files";
import { ROOT } from "../stack/paths";

/** The BEIR SciFact train split from ../shared/data (read in place, never copied). */
export const SCIFACT_DIR = join(ROOT, "..", "shared", "data", "scifact");

export interface ScifactDocument {
  _id: string;
  title: string;
  text: string;
}

export async function readCorpus(limit = Infinity): Promise<ScifactDocument[]> {
  const file = join(SCIFACT_DIR, "corpus.jsonl.gz");
  if (!existsSync(file)) throw new Error(`SciFact corpus not found at ${file} (../shared/data must sit beside the checkout)`);
  const documents: ScifactDocument[] = [];
  for await (const line of createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    documents.push(JSON.parse(line) as ScifactDocument);
    if (documents.length >= limit) break;
  }
  return documents;
}

export function readQueries(): Map<string, string> {
  const lines = readFileSync(join(SCIFACT_DIR, "queries-train.jsonl"), "utf8").split("\n").filter(Boolean);
  return new Map(lines.map((line) => JSON.parse(line) as { _id: string; text: string }).map((query) => [query._id, query.text]));
}

/** query id → the corpus ids judged relevant. */
export function readQrels(): Map<string, Set<string>> {
  const qrels = new Map<string, Set<string>>();
  const [, ...rows] = readFileSync(join(SCIFACT_DIR, "qrels-train.tsv"), "utf8").split("\n").filter(Boolean);
  for (const row of rows) {
    const [queryId, corpusId, score] = row.split("\t");
    if (!queryId || !corpusId || Number(score) <= 0) continue;
    if (!qrels.has(queryId)) qrels.set(queryId, new Set());
    qrels.get(queryId)!.add(corpusId);
  }
  return qrels;
}

/** As the CLI sends a BEIR record: the title leads the text and becomes `metadata.title`. */
export const toDocument = (doc: ScifactDocument): SourceDocument => {
  const document = jsonLineDocument({ ...doc });
  if (typeof document === "string") throw new Error(`SciFact ${doc._id} ${document}`);
  return { ...document, id: doc._id };
};
