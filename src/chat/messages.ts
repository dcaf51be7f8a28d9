/** What the chat modules share without zod: the default model's name and a message's text. */

/** The default model: every collection of the tenant. `edge-rag/<collection>` retrieves from one. */
export const BASE_MODEL = "edge-rag";

/** A message's text: a string, or its text parts joined. */
export function textOf(content: string | ReadonlyArray<{ text: string }> | null): string {
  if (content === null) return "";
  return typeof content === "string" ? content : content.map((part) => part.text).join("\n");
}
