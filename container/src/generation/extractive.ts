import { splitBySentenceTokenizer } from "@llamaindex/core/node-parser";
import { tokenizers } from "@llamaindex/env/tokenizers";
import { stemmer } from "stemmer";
import stopword from "stopword";
import { proseBlocks, quotable } from "../../../src/shared/prose.ts";
import type { AnswerGenerator, Context, GenerateInput, GenerateResult } from "./port.ts";

const STOPWORDS = new Set(stopword.eng);
const splitSentences = splitBySentenceTokenizer([], true);
// BM25 constants, applied with sentences as the documents.
const K1 = 1.2;
const B = 0.75;
/** A second sentence joins the answer only if it scores at least this share of the best one. */
const SECOND_SENTENCE_RATIO = 0.5;
const MAX_SENTENCES = 2;

type Sentence = { context: number; position: number; text: string; terms: string[] };

/** Lower-cased, stop-word-free, Porter-stemmed terms of a text. */
export function terms(text: string): string[] {
  const words =
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.filter((w) => !STOPWORDS.has(w)).map((w) => stemmer(w));
}

/** Scores every sentence of the contexts against the query with BM25 over the sentences. */
export function rankSentences(query: string, contexts: Context[]): { sentence: Sentence; score: number }[] {
  // Only prose can be quoted as a sentence: no table rows, code, headings or markdown syntax.
  const sentences: Sentence[] = contexts.flatMap((c, context) =>
    proseBlocks(c.text)
      .flatMap((block) => splitSentences(block))
      .filter((text) => text.trim().length > 0)
      .map((text, position) => ({ context, position, text: text.trim(), terms: terms(text) })),
  );
  const queryTerms = [...new Set(terms(query))];
  const df = new Map<string, number>();
  for (const s of sentences) for (const t of new Set(s.terms)) df.set(t, (df.get(t) ?? 0) + 1);
  const n = sentences.length;
  const avgLength = sentences.reduce((sum, s) => sum + s.terms.length, 0) / Math.max(n, 1) || 1;

  return sentences
    .map((sentence) => {
      let score = 0;
      for (const t of queryTerms) {
        const tf = sentence.terms.filter((x) => x === t).length;
        if (tf === 0) continue;
        const d = df.get(t) ?? 0;
        const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5));
        score += (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * sentence.terms.length) / avgLength));
      }
      // Ties go to the better-ranked context (the retriever's order) and to earlier sentences.
      return { sentence, score: score - sentence.context * 1e-6 - sentence.position * 1e-9 };
    })
    .sort((a, b) => b.score - a.score);
}

/** Composes a short answer from the best sentences, each followed by its [n] citation. */
export function composeAnswer(query: string, contexts: Context[], maxTokens: number): string {
  const ranked = rankSentences(query, contexts);
  const best = ranked[0];
  if (!best || best.score <= 0) {
    const first = ranked.find((r) => r.sentence.context === 0) ?? best;
    const lead = "I could not find a direct answer in the documents.";
    return first
      ? fitTokens(`${lead} The closest passage says: ${quotable(first.sentence.text)} [${first.sentence.context + 1}]`, maxTokens)
      : lead;
  }
  const picked = ranked
    .slice(0, MAX_SENTENCES)
    .filter((r, i) => i === 0 || r.score >= best.score * SECOND_SENTENCE_RATIO)
    // Read in document order: context by context, sentence by sentence.
    .sort((a, b) => a.sentence.context - b.sentence.context || a.sentence.position - b.sentence.position);
  return fitTokens(picked.map((r) => `${quotable(r.sentence.text)} [${r.sentence.context + 1}]`).join(" "), maxTokens);
}

const countTokens = (text: string) => tokenizers.tokenizer().encode(text).length;

/** Cuts the answer at a word boundary so that it fits in `maxTokens` tokens (cl100k). */
function fitTokens(answer: string, maxTokens: number): string {
  if (countTokens(answer) <= maxTokens) return answer;
  const words = answer.split(/(?<=\s)/);
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (countTokens(words.slice(0, mid).join("").trimEnd()) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  return words.slice(0, Math.max(lo, 1)).join("").trimEnd();
}

/**
 * The offline default generator: no model, no network. It picks the context sentences that best match
 * the query (BM25 over sentences, LlamaIndex's sentence tokenizer) and cites them. Streams the answer
 * word by word so clients exercise the same streaming path as with an LLM.
 */
export function createExtractiveGenerator(): AnswerGenerator {
  return {
    name: "extractive",
    model: "extractive-bm25",

    async *generate(input: GenerateInput): AsyncGenerator<string, GenerateResult> {
      const answer = composeAnswer(input.query, input.contexts, input.maxTokens);
      for (const word of answer.split(/(?<=\s)/)) yield word;
      return { completionTokens: countTokens(answer) };
    },

    async check() {
      return { ok: true, detail: "extractive synthesizer (no backend)" };
    },
  };
}
