import type { RetrievedChunk } from "../retrieval/retrieve";
import { SOURCE_PREVIEW_CHARS, type Source } from "./schemas";

/** A retrieved chunk as a client sees it: its text cut to a preview, its collection in its metadata. */
export function toSource(chunk: RetrievedChunk): Source {
  return {
    id: chunk.id,
    document_id: chunk.document_id,
    text: preview(chunk.text, SOURCE_PREVIEW_CHARS),
    score: Math.round(chunk.score * 10_000) / 10_000,
    metadata: { ...chunk.metadata, collection: chunk.collection },
  };
}

/** At most `max` characters, ending in "…" when cut (never inside a surrogate pair). */
export function preview(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}
