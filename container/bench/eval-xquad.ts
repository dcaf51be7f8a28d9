/**
 * XQuAD-en answer check for the generator: for every question, the contexts are its gold paragraph plus
 * DISTRACTORS other paragraphs (half from the same article when it has them, the rest from anywhere), in
 * a seeded random order. Reports how often a gold answer string appears in the generated answer.
 * The default generator is the one extractive answer (src/shared/extractive-answer.ts), which the
 * worker also answers with when no origin can generate; here it is cut to 256 tokens.
 *
 *   npm run eval:xquad                       # extractive generator, 4 distractors
 *   DISTRACTORS=9 npm run eval:xquad         # harder
 *   GENERATION_BACKEND=openai GENERATION_URL=... GENERATION_MODEL=... npm run eval:xquad
 *
 * Reads ../shared/data/xquad-en (XQUAD_DIR overrides); the data is never copied into the repo.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createExtractiveGenerator } from "../src/generation/extractive.ts";
import { createLLMGenerator } from "../src/generation/llm-generator.ts";
import type { AnswerGenerator, Context } from "../src/generation/port.ts";

const dir = resolve(process.env.XQUAD_DIR ?? resolve(import.meta.dirname, "../../../shared/data/xquad-en"));
const distractors = Number(process.env.DISTRACTORS ?? 4);
const limit = Number(process.env.LIMIT ?? Number.POSITIVE_INFINITY);

const readJsonl = <T>(file: string): T[] =>
  readFileSync(resolve(dir, file), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);

type Paragraph = { _id: string; title: string; text: string };
type Question = { _id: string; text: string; metadata: { answers: string[] } };

const paragraphs = readJsonl<Paragraph>("corpus.jsonl");
const byId = new Map(paragraphs.map((p) => [p._id, p]));
const questions = readJsonl<Question>("queries.jsonl").slice(0, limit);
const gold = new Map(
  readFileSync(resolve(dir, "qrels.tsv"), "utf8")
    .split("\n")
    .slice(1)
    .filter(Boolean)
    .map((line) => line.split("\t") as [string, string, string])
    .map(([q, c]) => [q, c]),
);

// mulberry32: a tiny seeded PRNG so every run picks the same distractors.
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(42);
const pick = <T>(items: T[], n: number): T[] => {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
};

function contextsFor(goldId: string): { contexts: Context[]; goldIndex: number } {
  const target = byId.get(goldId)!;
  const sameArticle = paragraphs.filter((p) => p.title === target.title && p._id !== goldId);
  const near = pick(sameArticle, Math.ceil(distractors / 2));
  const far = pick(
    paragraphs.filter((p) => p.title !== target.title),
    distractors - near.length,
  );
  const all = pick([target, ...near, ...far], distractors + 1);
  return { contexts: all.map((p) => ({ id: p._id, text: p.text })), goldIndex: all.indexOf(target) };
}

function createGenerator(): AnswerGenerator {
  if (process.env.GENERATION_BACKEND !== "openai") return createExtractiveGenerator();
  return createLLMGenerator({
    url: process.env.GENERATION_URL!,
    model: process.env.GENERATION_MODEL!,
    apiKey: process.env.GENERATION_API_KEY,
    timeoutMs: Number(process.env.UPSTREAM_TIMEOUT_MS ?? 30_000),
    contextWindow: Number(process.env.GENERATION_CONTEXT_WINDOW ?? 8192),
  });
}

const generator = createGenerator();
let hits = 0;
let hitsFolded = 0;
let citesGold = 0;
let answerChars = 0;
const started = performance.now();
for (const q of questions) {
  const { contexts, goldIndex } = contextsFor(gold.get(q._id)!);
  let answer = "";
  for await (const delta of generator.generate({ query: q.text, contexts, maxTokens: 256 })) answer += delta;
  const folded = answer.toLowerCase();
  if (q.metadata.answers.some((a) => answer.includes(a))) hits++;
  if (q.metadata.answers.some((a) => folded.includes(a.toLowerCase()))) hitsFolded++;
  if (answer.includes(`[${goldIndex + 1}]`)) citesGold++;
  answerChars += answer.length;
}
const seconds = (performance.now() - started) / 1000;
const pct = (n: number) => `${((100 * n) / questions.length).toFixed(1)}%`;
console.log(
  `XQuAD-en answer check: ${questions.length} questions, gold paragraph + ${distractors} distractors, generator ${generator.model}`,
);
console.log(`  gold answer string in answer (exact):       ${pct(hits)} (${hits}/${questions.length})`);
console.log(`  gold answer string in answer (ignore case): ${pct(hitsFolded)}`);
console.log(`  answer cites the gold paragraph:            ${pct(citesGold)}`);
console.log(
  `  mean answer length: ${(answerChars / questions.length).toFixed(0)} chars; ${(questions.length / seconds).toFixed(1)} questions/s`,
);
