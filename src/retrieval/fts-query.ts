/**
 * Turns user text into an FTS5 MATCH expression that cannot be injected.
 *
 * FTS5 has its own query language (`"phrases"`, `OR`/`AND`/`NOT`, `NEAR(...)`, `prefix*`, `^first`,
 * `column:` filters, parentheses). User text is never handed to it: it is split into word tokens
 * the way the `unicode61` tokenizer splits them (runs of letters, numbers and private-use
 * characters; everything else separates), stop-words are dropped, and every remaining token is
 * emitted as a double-quoted string joined by OR. A quoted string is always a plain phrase to
 * FTS5, so operators, column names and punctuation in the input are inert.
 */

/** Common English function words: they match almost every chunk and add nothing to BM25 ranking. */
const STOP_WORDS = new Set(
  (
    "a an and are as at be been being but by can could did do does doing for from had has have having he her " +
    "here hers him his how i if in into is it its itself just me my no nor not of off on once only or our " +
    "ours out over own same she should so some such than that the their theirs them then there these they " +
    "this those through to too under until up very was we were what when where which while who whom why will " +
    "with would you your yours"
  ).split(" "),
);

/** At most this many distinct terms reach FTS5: a 2,000-character query must not become a huge OR. */
export const MAX_FTS_TERMS = 32;

// unicode61's default token characters: the Unicode categories L*, N* and Co; marks (M*) stay
// attached so that "é" written as e + combining accent is one token, as remove_diacritics expects.
const TOKEN = /[\p{L}\p{N}\p{Co}][\p{L}\p{N}\p{Co}\p{M}]*/gu;

/** The distinct search terms of `text`, lower-cased, in order of first appearance. */
export function searchTerms(text: string, options: { keepStopWords?: boolean } = {}): string[] {
  const terms: string[] = [];
  const seen = new Set<string>();
  for (const match of text.normalize("NFKC").matchAll(TOKEN)) {
    const term = match[0].toLowerCase();
    if (seen.has(term)) continue;
    seen.add(term);
    if (!options.keepStopWords && STOP_WORDS.has(term)) continue;
    terms.push(term);
  }
  return terms;
}

/**
 * The MATCH expression for `text`, or null when it has no searchable term (only punctuation or
 * stop-words): the caller then skips the keyword search instead of sending FTS5 an empty query,
 * which it would reject.
 */
export function toFtsMatchExpression(text: string): string | null {
  return matchAnyOf(searchTerms(text).slice(0, MAX_FTS_TERMS));
}

/** The MATCH expression for any of `terms` (each a plain phrase), or null for none. */
export function matchAnyOf(terms: readonly string[]): string | null {
  if (terms.length === 0) return null;
  // Tokens never contain '"', but double it anyway: that is FTS5's only escape inside a string.
  return terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(" OR ");
}
