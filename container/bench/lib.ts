import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const xquadLines = (file: string) => {
  const dir = resolve(process.env.XQUAD_DIR ?? resolve(import.meta.dirname, "../../../shared/data/xquad-en"));
  return readFileSync(resolve(dir, file), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
};

/** XQuAD-en's paragraphs: real English prose for the benchmarks. */
export const loadParagraphs = (): string[] => xquadLines("corpus.jsonl").map((p: { text: string }) => p.text);

/** XQuAD-en questions (short) and paragraph sentences (longer): real English inputs for the benchmarks. */
export function loadTexts() {
  const queries: string[] = xquadLines("queries.jsonl").map((q: { text: string }) => q.text);
  const sentences: string[] = loadParagraphs().flatMap((text) => text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 20));
  return { queries, sentences };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(8);
