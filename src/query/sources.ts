import type { RetrievedChunk } from "../retrieval/retrieve";
import { SOURCE_PREVIEW_CHARS, type Source } from "./schemas";

/**
 * A retrieved chunk as a client sees it: its text cut to a preview, its page and section where
 * known, its collection in its metadata; with `explain`, its rank and score per stage as computed (unrounded).
 */
export function toSource(chunk: RetrievedChunk, explain = false): Source {
  const source: Source = {
    id: chunk.id,
    document_id: chunk.document_id,
    text: preview(chunk.text, SOURCE_PREVIEW_CHARS),
    score: Math.round(chunk.score * 10_000) / 10_000,
    // Where the chunk came from, when known (a document made from a file).
    ...(chunk.page == null ? {} : { page: chunk.page }),
    ...(chunk.section == null ? {} : { section: chunk.section }),
    metadata: { ...chunk.metadata, collection: chunk.collection },
  };
  return explain ? { ...source, ranks: { ...chunk.ranks }, scores: { ...chunk.scores } } : source;
}

/** At most `max` characters, ending in "…" when cut (never inside a surrogate pair). */
export function preview(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}
