import { stemmer } from "stemmer";
import { eng } from "stopword";
import { proseBlocks, quotable } from "./prose.ts";

/**
 * The one extractive answer, used by both packages: the origin's offline generator
 * (container/src/generation/extractive.ts, which fits it to max_tokens) and the worker's answer when
 * no origin can generate (src/answer/generate-answer.ts, degraded). It quotes the sentences of the
 * sources that best match the question, ranked by BM25 with the sentences as the documents, each
 * followed by its `[n]` citation (n = the source's 1-based position). Sentences come from the
 * sources' prose only (`proseBlocks`: no table rows, code, headings or markdown syntax) and pass
 * `quotable` (no forged citations or images), so every [n] in the answer names a real source.
 *
 * Pure and deterministic (ties go to the better-ranked source, then the earlier sentence); it never
 * invents text. About a millisecond for ten paragraphs (`npm --prefix container run eval:xquad`).
 * Sentences are the platform's (Intl.Segmenter); terms are NFKC-folded, lower-cased, free of English
 * stop words (`stopword`) and Porter-stemmed (`stemmer`): a few kilobytes, so the worker bundles them.
 */

export const NO_SOURCES_ANSWER = "No passage in the indexed documents matches this question.";
/** The sources hold no prose at all (only tables, code or headings): point at them instead. */
export const NO_PROSE_ANSWER = "The matching passages are tables or code rather than sentences; see the top source [1].";
/** No sentence shares a term with the question: say so, then quote the top source's first sentence. */
export const NO_MATCH_LEAD = "I could not find a direct answer in the documents. The closest passage says:";

// BM25 constants, applied with sentences as the documents.
const K1 = 1.2;
const B = 0.75;
const MAX_SENTENCES = 2;
/** A second sentence joins the answer only if it scores at least this share of the best one. */
const SECOND_SENTENCE_RATIO = 0.5;
const STOPWORDS = new Set(eng);

type Sentence = { source: number; position: number; text: string; terms: string[] };

/** The answer as parts (one cited sentence each), so that a stream can send them one by one. */
export function extractiveAnswerParts(query: string, sources: ReadonlyArray<{ text: string }>): string[] {
  if (sources.length === 0) return [NO_SOURCES_ANSWER];
  const sentences: Sentence[] = sources.flatMap((source, index) =>
    proseBlocks(source.text)
      .flatMap(splitSentences)
      .map((text, position) => ({ source: index, position, text, terms: terms(text) })),
  );
  const first = sentences[0];
  if (!first) return [NO_PROSE_ANSWER];

  const ranked = rank(query, sentences);
  const best = ranked[0];
  if (!best || best.score <= 0) return [`${NO_MATCH_LEAD} ${cited(first)}`];
  return (
    ranked
      .slice(0, MAX_SENTENCES)
      .filter((r) => r.score >= best.score * SECOND_SENTENCE_RATIO)
      .map((r) => r.sentence)
      // Read in document order: source by source, sentence by sentence.
      .sort((a, b) => a.source - b.source || a.position - b.position)
      .map(cited)
  );
}

export function extractiveAnswer(query: string, sources: ReadonlyArray<{ text: string }>): string {
  return extractiveAnswerParts(query, sources).join(" ");
}

/**
 * Sentences as the platform's segmenter finds them (ICU, Unicode UAX #29: decimals and a lower-case
 * word after "e.g." do not end one), in the text with its whitespace collapsed.
 */
export function splitSentences(text: string): string[] {
  return [...new Intl.Segmenter("en", { granularity: "sentence" }).segment(text.replace(/\s+/g, " "))]
    .map(({ segment }) => segment.trim())
    .filter((sentence) => /[\p{L}\p{N}]/u.test(sentence));
}

/** Lower-cased, stop-word-free, Porter-stemmed terms of a text. */
function terms(text: string): string[] {
  const words =
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.filter((word) => !STOPWORDS.has(word)).map((word) => stemmer(word));
}

/** BM25 score of every sentence against the query, best first. */
function rank(query: string, sentences: Sentence[]): Array<{ sentence: Sentence; score: number }> {
  const queryTerms = [...new Set(terms(query))];
  const df = new Map<string, number>();
  for (const s of sentences) for (const t of new Set(s.terms)) df.set(t, (df.get(t) ?? 0) + 1);
  const n = sentences.length;
  const avgLength = sentences.reduce((sum, s) => sum + s.terms.length, 0) / n || 1;
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
      return { sentence, score };
    })
    .sort((a, b) => b.score - a.score || a.sentence.source - b.sentence.source || a.sentence.position - b.sentence.position);
}

const cited = (sentence: Sentence) => `${quotable(sentence.text)} [${sentence.source + 1}]`;
