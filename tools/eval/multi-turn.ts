/**
 * The multi-turn set of `npm run eval`, built from XQuAD English: per paragraph, a first question
 * and an elliptical follow-up about the same paragraph, whose answer is in that (known) paragraph.
 *
 * XQuAD has no conversations, so the follow-up is made from a second question on the paragraph by
 * the ellipsis a person makes in a chat: the names it mentions (runs of capitalised words after the
 * first word, e.g. "Jared Allen", "Super Bowl 50") become "it", as in "How many career sacks did it
 * have?". The first turn is the paragraph's first question and, as the assistant's turn, its gold
 * answer text. Deterministic: the same data gives the same set, in paragraph order.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "./datasets";

export interface TwoTurns {
  /** The follow-up's query id: its gold paragraph is the original question's. */
  id: string;
  first: string;
  firstAnswer: string;
  /** The second question as XQuAD asks it (standalone): the upper bound. */
  original: string;
  followUp: string;
  paragraph: string;
}

// A name: capitalised words (with digits, "of", "the", "and" inside), e.g. "University of Chicago".
const NAME = /\b(?:\p{Lu}[\p{L}\p{N}'.-]*|\p{N}+)(?:\s+(?:(?:of|the|and|de|von)\s+)*(?:\p{Lu}[\p{L}\p{N}'.-]*|\p{N}+))*/gu;

/** The question with the names after its first word replaced by "it"; null when it names nothing. */
export function elide(question: string): string | null {
  const firstWord = /^\S+/.exec(question)?.[0].length ?? 0;
  let replaced = 0;
  const elided = question.replace(NAME, (name, offset: number) => {
    // The first word is capitalised because it opens the sentence; a bare number is not a name.
    if (offset < firstWord || /^\p{N}+$/u.test(name)) return name;
    replaced++;
    return /'s$/.test(name) ? "its" : "it";
  });
  // "the it" / "it's" read badly; a question left with no word of its own is no follow-up.
  const cleaned = elided.replace(/\b(?:the|a|an)\s+it\b/gi, "it").replace(/\bit's\b/g, "its");
  if (replaced === 0 || cleaned.split(/\s+/).filter((word) => /\p{L}{4,}/u.test(word) && word !== "it").length < 2) return null;
  return cleaned;
}

/** One conversation per paragraph that has a question to elide after its first. */
export function twoTurnSet(): TwoTurns[] {
  const dir = join(dataDir(), "xquad-en");
  const questions = readFileSync(join(dir, "queries.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { _id: string; text: string; metadata?: { answers?: string[] } });
  const paragraphOf = new Map<string, string>();
  for (const row of readFileSync(join(dir, "qrels.tsv"), "utf8").split("\n").slice(1)) {
    const [queryId, corpusId] = row.split("\t");
    if (queryId && corpusId) paragraphOf.set(queryId, corpusId);
  }
  const byParagraph = new Map<string, typeof questions>();
  for (const question of questions) {
    const paragraph = paragraphOf.get(question._id);
    if (!paragraph) continue;
    if (!byParagraph.has(paragraph)) byParagraph.set(paragraph, []);
    byParagraph.get(paragraph)!.push(question);
  }
  const set: TwoTurns[] = [];
  for (const [paragraph, [first, ...rest]] of byParagraph) {
    if (!first) continue;
    for (const second of rest) {
      const followUp = elide(second.text);
      if (!followUp) continue;
      set.push({
        id: second._id,
        first: first.text,
        firstAnswer: first.metadata?.answers?.[0] ?? "",
        original: second.text,
        followUp,
        paragraph,
      });
      break;
    }
  }
  return set;
}
