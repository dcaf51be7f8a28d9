import { searchTerms } from "../retrieval/fts-query";
import { proseBlocks, quotable } from "../shared/prose";

/**
 * The edge's own answer when no origin can generate one: the sentences of the top sources that
 * share the most terms with the question, each followed by its `[n]` citation (n = the source's
 * 1-based position, as in the origin's answers). Sentences come from the sources' prose only
 * (`proseBlocks`: no table rows, code, headings or markdown syntax), so the answer reads as
 * sentences. Pure and fast (microseconds per source); it never invents text, so it is always
 * grounded in the cited sources.
 */

export const NO_SOURCES_ANSWER = "No passage in the indexed documents matches this question.";
/** The top sources hold no prose at all (only tables, code or headings): point at them instead. */
export const NO_PROSE_ANSWER = "The matching passages are tables or code rather than sentences; see the top source [1].";

export interface ExtractiveOptions {
  /** Sources considered, best first (default 3). */
  maxSources?: number;
  /** Sentences in the answer (default 3), at most two from one source. */
  maxSentences?: number;
  /** Longest sentence kept whole (default 300 characters). */
  maxSentenceLength?: number;
}

/** The answer as parts (one cited sentence each), so that a stream can send them one by one. */
export function extractiveAnswerParts(query: string, sources: ReadonlyArray<{ text: string }>, options: ExtractiveOptions = {}): string[] {
  const { maxSources = 3, maxSentences = 3, maxSentenceLength = 300 } = options;
  if (sources.length === 0) return [NO_SOURCES_ANSWER];
  const wanted = new Set(searchTerms(query).map(stem));

  const candidates: Array<{ source: number; position: number; text: string; overlap: number }> = [];
  sources.slice(0, maxSources).forEach((source, index) => {
    proseBlocks(source.text)
      .flatMap(splitSentences)
      .forEach((text, position) => {
        const present = new Set(searchTerms(text).map(stem));
        let overlap = 0;
        for (const term of wanted) if (present.has(term)) overlap += 1;
        candidates.push({ source: index, position, text, overlap });
      });
  });

  const chosen: typeof candidates = [];
  const perSource = new Map<number, number>();
  const best = Math.max(0, ...candidates.map((candidate) => candidate.overlap));
  // A sentence sharing one incidental word ("London") with the question is noise next to one
  // that shares three: keep only sentences within half of the best overlap.
  const enough = Math.max(1, Math.ceil(best / 2));
  // Most shared terms first; on a tie the better-ranked source, then the earlier sentence.
  for (const candidate of [...candidates].sort((a, b) => b.overlap - a.overlap || a.source - b.source || a.position - b.position)) {
    if (chosen.length >= maxSentences || candidate.overlap < enough) break;
    if ((perSource.get(candidate.source) ?? 0) >= 2) continue;
    perSource.set(candidate.source, (perSource.get(candidate.source) ?? 0) + 1);
    chosen.push(candidate);
  }
  // Nothing in common (e.g. a purely semantic match): the best-ranked source's opening sentence.
  if (chosen.length === 0) {
    const first = candidates[0];
    if (!first) return [NO_PROSE_ANSWER];
    chosen.push(first);
  }
  return chosen
    .sort((a, b) => a.source - b.source || a.position - b.position)
    .map((sentence) => `${clip(quotable(sentence.text), maxSentenceLength)} [${sentence.source + 1}]`);
}

export function extractiveAnswer(query: string, sources: ReadonlyArray<{ text: string }>, options?: ExtractiveOptions): string {
  return extractiveAnswerParts(query, sources, options).join(" ");
}

/** Sentence boundaries: terminal punctuation, then space, then something that can start a sentence. */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?…])\s+(?=["'“‘([]?[\p{Lu}\p{N}])|\n{2,}/u)
    .map((sentence) => sentence.replace(/\s+/g, " ").trim())
    .filter((sentence) => /[\p{L}\p{N}]/u.test(sentence));
}

/** A crude English suffix stripper, enough to match "interceptions" with "intercepted". */
export function stem(term: string): string {
  if (term.length <= 4) return term;
  for (const [suffix, replacement] of [
    ["ies", "y"],
    ["ions", ""],
    ["ion", ""],
    ["ing", ""],
    ["ed", ""],
    ["es", ""],
    ["s", ""],
  ] as const) {
    if (term.endsWith(suffix) && term.length - suffix.length >= 3) return term.slice(0, -suffix.length) + replacement;
  }
  return term;
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (/[\uD800-\uDBFF]/.test(text[end - 1] ?? "")) end -= 1; // never split a surrogate pair
  return `${text.slice(0, end).trimEnd()}…`;
}
