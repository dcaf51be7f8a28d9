/**
 * Token counts at the edge, which has no tokenizer (cl100k's tables would weigh more than the rest
 * of the worker): about four characters a token, OpenAI's own rule of thumb for English. Enough for
 * clients that meter (the chat route's `usage`) and to hold the edge's own answer to max_tokens.
 */
export const CHARS_PER_TOKEN = 4;

export const estimateTokens = (text: string) => Math.ceil(text.length / CHARS_PER_TOKEN);

/**
 * The leading parts (cited sentences, joined by spaces) whose estimate fits in `maxTokens`; when not
 * even the first fits, the first cut at a word boundary (at least its first word). Never empty.
 */
export function fitParts(parts: readonly string[], maxTokens: number): string[] {
  const fitted: string[] = [];
  for (const part of parts) {
    if (estimateTokens([...fitted, part].join(" ")) > maxTokens) break;
    fitted.push(part);
  }
  if (fitted.length > 0 || parts.length === 0) return fitted;
  const words = parts[0]!.split(/(?<=\s)/);
  let taken = 1;
  while (
    taken < words.length &&
    estimateTokens(
      words
        .slice(0, taken + 1)
        .join("")
        .trimEnd(),
    ) <= maxTokens
  )
    taken++;
  return [words.slice(0, taken).join("").trimEnd()];
}
