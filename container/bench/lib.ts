import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** XQuAD-en questions (short) and paragraph sentences (longer): real English inputs for the benchmarks. */
export function loadTexts() {
  const dir = resolve(process.env.XQUAD_DIR ?? resolve(import.meta.dirname, "../../../shared/data/xquad-en"));
  const lines = (file: string) =>
    readFileSync(resolve(dir, file), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const queries: string[] = lines("queries.jsonl").map((q: { text: string }) => q.text);
  const sentences: string[] = lines("corpus.jsonl").flatMap((p: { text: string }) =>
    p.text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 20),
  );
  return { queries, sentences };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(8);
