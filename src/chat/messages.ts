/** What the chat modules share without zod: the default model's name, a message's text, the generation settings. */

/** The default model: every collection of the tenant. `edge-rag/<collection>` retrieves from one. */
export const BASE_MODEL = "edge-rag";

/** A message's text: a string, or its text parts joined. */
export function textOf(content: string | ReadonlyArray<{ text: string }> | null): string {
  if (content === null) return "";
  return typeof content === "string" ? content : content.map((part) => part.text).join("\n");
}

/**
 * The request's generation settings: max_completion_tokens (OpenAI's newer name) or max_tokens, and
 * the temperature; only those that were set (the schema holds both names to the same value).
 */
export function generationOf(request: {
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
}): { max_tokens?: number; temperature?: number } {
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  return {
    ...(maxTokens == null ? {} : { max_tokens: maxTokens }),
    ...(request.temperature == null ? {} : { temperature: request.temperature }),
  };
}
