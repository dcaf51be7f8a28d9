import { stemmer } from "stemmer";
import { eng } from "stopword";

/**
 * The offline condense step of a conversation: the last user message rewritten into a standalone
 * question from the history, without an LLM. Used by both packages: the origin answers with it when
 * it has no LLM backend (container/src/generation/condenser.ts), and the worker when no origin can
 * condense (src/chat/condense.ts). With an LLM the origin uses LlamaIndex's condense prompt instead.
 *
 * The rule: a follow-up that cannot stand alone (it leans on a pronoun such as "it" or "they",
 * opens like "and …" / "what about …", or has at most two content words) gets the key terms of the
 * previous turns appended: the content words of the user's earlier questions (latest first), then
 * the names and numbers of the last answer (what "they" or "that" most often points at). A question
 * that stands alone, or one with no history, is returned unchanged. Pure and deterministic.
 */

export interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

/** How a standalone question was made: none (no history, or it stood alone), rules (this module), llm. */
export type RewriteMethod = "none" | "rules" | "llm";

/** The longest standalone question: the query API's limit. */
export const MAX_STANDALONE_CHARS = 2000;
/** At most this many carried terms: enough to name the topic, too few to drown the follow-up. */
const MAX_CARRIED_TERMS = 6;
/** Names and numbers taken from the last answer. */
const MAX_ANSWER_TERMS = 2;

const STOPWORDS = new Set(eng);
// Words that point back at something said before. "one" as in "the old one".
const ANAPHORA = new Set([
  "it",
  "its",
  "itself",
  "this",
  "that",
  "these",
  "those",
  "they",
  "them",
  "their",
  "theirs",
  "he",
  "him",
  "his",
  "she",
  "her",
  "hers",
  "there",
  "one",
  "ones",
  "same",
  "former",
  "latter",
]);
const FOLLOW_UP_OPENING = /^(?:and|also|but|so|then|or|what about|how about|why not|what else|what if)\b/i;
const WORD = /[\p{L}\p{N}][\p{L}\p{N}'-]*/gu;

const words = (text: string) => (text.normalize("NFKC").match(WORD) ?? []).map((word) => word.replace(/'s$/i, ""));
const isContent = (word: string) => word.length > 1 && !STOPWORDS.has(word.toLowerCase()) && !ANAPHORA.has(word.toLowerCase());
const stem = (word: string) => stemmer(word.toLowerCase());

/** Whether a question leans on what was said before. */
export function isElliptical(question: string): boolean {
  const all = words(question);
  if (FOLLOW_UP_OPENING.test(question.trim())) return true;
  if (all.some((word) => ANAPHORA.has(word.toLowerCase()))) return true;
  return all.filter(isContent).length <= 2;
}

/** The standalone question for `question` after `history` (oldest turn first). */
export function condenseQuestionByRules(history: readonly ChatTurn[], question: string): { question: string; method: RewriteMethod } {
  const trimmed = question.trim();
  if (!history.some((turn) => turn.role === "user") || !isElliptical(trimmed)) return { question: trimmed, method: "none" };
  const carried = carriedTerms(history, trimmed);
  if (carried.length === 0) return { question: trimmed, method: "none" };
  // Appended in parentheses: the follow-up stays as the user wrote it, and the terms retrieve its topic.
  let suffix = ` (${carried.join(" ")})`;
  while (trimmed.length + suffix.length > MAX_STANDALONE_CHARS && carried.length > 1) {
    carried.pop();
    suffix = ` (${carried.join(" ")})`;
  }
  if (trimmed.length + suffix.length > MAX_STANDALONE_CHARS) return { question: trimmed, method: "none" };
  return { question: `${trimmed}${suffix}`, method: "rules" };
}

/** The previous turns' key terms that the question lacks, most recent user turn first. */
function carriedTerms(history: readonly ChatTurn[], question: string): string[] {
  const seen = new Set(words(question).map(stem));
  const carried: string[] = [];
  const take = (word: string) => {
    const key = stem(word);
    if (seen.has(key)) return false;
    seen.add(key);
    carried.push(word);
    return true;
  };
  const userTurns = history.filter((turn) => turn.role === "user").reverse();
  for (const turn of userTurns) {
    for (const word of words(turn.content).filter(isContent)) {
      if (carried.length >= MAX_CARRIED_TERMS - MAX_ANSWER_TERMS) break;
      take(word);
    }
  }
  const lastAnswer = history.findLast((turn) => turn.role === "assistant");
  if (lastAnswer) {
    // Names (capitalised, not opening a sentence) and numbers; citation markers [n] are not terms.
    const text = lastAnswer.content.replace(/\[\d+(?:\s*,\s*\d+)*\]/g, " ");
    let taken = 0;
    for (const match of text.matchAll(/(?<![.!?]\s|^)\b(\p{Lu}[\p{L}\p{N}-]*|\p{N}[\p{N}.,]*)/gu)) {
      if (taken >= MAX_ANSWER_TERMS || carried.length >= MAX_CARRIED_TERMS) break;
      const word = match[1]!.replace(/[.,]+$/, "");
      if (isContent(word) && take(word)) taken++;
    }
  }
  return carried;
}
