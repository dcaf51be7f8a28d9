import { createReadStream, existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import type { SourceDocument } from "../../src/ingest/source-files";
import { UsageError } from "../cli/usage-error";
import { SCIFACT_DIR, type ScifactDocument, toDocument } from "../lib/scifact";
import { ROOT } from "../stack/paths";

/**
 * The benchmark's data: BEIR SciFact (train) read in place from the shared data folder, never
 * copied. The folder is `shared/data/scifact` beside the checkout (tools/lib/scifact.ts), or beside
 * the folder holding it (a git worktree under <project>/wt/<name>), or --data.
 */
export function scifactDir(explicit?: string): string {
  const candidates = explicit ? [resolve(explicit)] : [SCIFACT_DIR, join(ROOT, "..", "..", "shared", "data", "scifact")];
  const found = candidates.find((dir) => existsSync(join(dir, "corpus.jsonl.gz")));
  if (!found) throw new UsageError(`SciFact not found (looked for corpus.jsonl.gz in ${candidates.join(", ")}); pass --data <dir>`);
  return found;
}

/** The first `limit` documents, as the CLI sends them (title leading the text). */
export async function readDocuments(dir: string, limit: number): Promise<SourceDocument[]> {
  const documents: SourceDocument[] = [];
  const input = createReadStream(join(dir, "corpus.jsonl.gz")).pipe(createGunzip());
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (!line.trim()) continue;
    documents.push(toDocument(JSON.parse(line) as ScifactDocument));
    if (documents.length >= limit) break;
  }
  input.destroy();
  return documents;
}

/** The distinct training questions, in file order (SciFact train repeats a few claims word for word). */
export function readQuestions(dir: string): string[] {
  const texts = readFileSync(join(dir, "queries-train.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { text: string }).text);
  return [...new Set(texts)];
}
