import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { SentenceSplitter } from "@llamaindex/core/node-parser";
import { BLOCK_SEPARATOR, type LocatedBlock, textOfBlocks } from "../../../src/shared/origin-contract.ts";

export type Chunk = { index: number; text: string; start: number; end: number };
export type ChunkOptions = { chunkSize: number; chunkOverlap: number };
/** Where a chunk came from, when its document was given as located blocks. */
export type Location = { page?: number; section?: string[] };
export type LocatedChunk = Chunk & Location;
/** A document as /v1/chunk takes it: plain text, or located blocks (what /v1/parse answers). */
export type ChunkInput = { id: string; text: string } | { id: string; blocks: LocatedBlock[] };

/**
 * The longest text one SentenceSplitter call is handed. Its sentence tokenizer is quadratic in the
 * text it is given (for every sentence it rewrites the whole text once per placeholder): on this
 * 2-core machine 10k characters took 44 ms, 100k 1.9 s and 1M about 2 minutes, during which the
 * process answered nothing, probes included. Cut into sections of at most this many characters
 * (at a paragraph break, else a sentence end, else a space), a text costs time linear in its length.
 */
export const SECTION_CHARS = 10_000;

/**
 * Splits text with LlamaIndex.TS's SentenceSplitter (sizes in tokens of its default tokenizer,
 * cl100k via gpt-tokenizer) and locates every chunk in the source, so that for each chunk
 * `text === source.slice(start, end)` (UTF-16 offsets). A text longer than SECTION_CHARS is split
 * section by section: no chunk spans two sections, which costs at most one short chunk per
 * section, cut where the text itself breaks. Pure CPU; about 0.5 ms per 1k characters (`npm --prefix container run bench:chunking`).
 */
export function chunkText(source: string, options: ChunkOptions): Chunk[] {
  const chunks: Chunk[] = [];
  for (const section of sectionsOf(source, SECTION_CHARS)) chunks.push(...chunkSection(source, section, options, chunks.length));
  return chunks;
}

/**
 * Chunks many documents, yielding to the event loop after every section of every document, so that
 * a big ingest never holds off health probes or query embeddings for more than one section's time.
 *
 * A document of located blocks is chunked as the text its blocks join into (textOfBlocks), one
 * span at a time: consecutive blocks with the same location make one span, and no chunk crosses
 * from one span into the next, so every chunk carries the page or section of the blocks it comes
 * from. A plain-text document is one span with no location (its chunks have neither field).
 */
export async function chunkDocuments(documents: ChunkInput[], options: ChunkOptions) {
  const out: { id: string; chunks: LocatedChunk[] }[] = [];
  for (const doc of documents) {
    const { text, spans } = "blocks" in doc ? spansOf(doc.blocks) : { text: doc.text, spans: [{ start: 0, end: doc.text.length }] };
    const chunks: LocatedChunk[] = [];
    for (const span of spans) {
      const location = locationOf(span);
      for (const section of sectionsOf(text.slice(span.start, span.end), SECTION_CHARS)) {
        const inText = { start: span.start + section.start, end: span.start + section.end };
        for (const chunk of chunkSection(text, inText, options, chunks.length)) chunks.push({ ...chunk, ...location });
        await yieldToEventLoop();
      }
    }
    out.push({ id: doc.id, chunks });
  }
  return out;
}

type Span = Section & Location;

/** The blocks' joined text, and the spans of it that share a location (consecutive blocks with the same page and section). */
function spansOf(blocks: LocatedBlock[]): { text: string; spans: Span[] } {
  const spans: Span[] = [];
  let offset = 0;
  for (const block of blocks) {
    const start = offset;
    const end = start + block.text.length;
    offset = end + BLOCK_SEPARATOR.length;
    const last = spans.at(-1);
    if (last && sameLocation(last, block)) last.end = end;
    else spans.push({ start, end, page: block.page, section: block.section });
  }
  return { text: textOfBlocks(blocks), spans };
}

const sameLocation = (a: Location, b: Location) =>
  a.page === b.page &&
  (a.section ?? []).length === (b.section ?? []).length &&
  (a.section ?? []).every((heading, i) => heading === b.section![i]);

/** Only the fields a span has, so that a chunk of plain text stays `{index, text, start, end}`. */
function locationOf(span: Span): Location {
  const location: Location = {};
  if (span.page !== undefined) location.page = span.page;
  if (span.section !== undefined) location.section = span.section;
  return location;
}

type Section = { start: number; end: number };

function chunkSection(source: string, section: Section, options: ChunkOptions, firstIndex: number): Chunk[] {
  const text = source.slice(section.start, section.end);
  const splitter = new SentenceSplitter({ chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap });
  const chunks: Chunk[] = [];
  let from = 0;
  for (const piece of splitter.splitText(text)) {
    const span = locate(text, piece, from);
    if (!span) continue; // unreachable in practice: every piece comes from the source
    const start = section.start + span.start;
    const end = section.start + span.end;
    chunks.push({ index: firstIndex + chunks.length, text: source.slice(start, end), start, end });
    // Chunks overlap but never start before the previous one: search on from just after its start.
    from = span.start + 1;
  }
  return chunks;
}

/**
 * Consecutive sections covering `text`, each at most `max` characters, each cut at the last
 * paragraph break in its second half, else the last sentence end, else the last whitespace, else
 * at `max` (a text without spaces), and never inside a UTF-16 surrogate pair.
 */
export function sectionsOf(text: string, max: number): Section[] {
  const sections: Section[] = [];
  let start = 0;
  while (text.length - start > max) {
    const window = text.slice(start, start + max);
    const half = Math.floor(max / 2);
    let cut = window.lastIndexOf("\n\n") + 2;
    if (cut < half) cut = lastSentenceEnd(window, half);
    if (cut < half) cut = Math.max(window.lastIndexOf(" "), window.lastIndexOf("\n")) + 1;
    if (cut < half) cut = isHighSurrogate(window.charCodeAt(max - 1)) ? max - 1 : max;
    sections.push({ start, end: start + cut });
    start += cut;
  }
  sections.push({ start, end: text.length });
  return sections;
}

const SENTENCE_END = /[.!?。！？](?=\s)/g;

/** The offset just after the last sentence end at or after `from`, or -1. */
function lastSentenceEnd(window: string, from: number): number {
  let last = -1;
  SENTENCE_END.lastIndex = from;
  for (let match = SENTENCE_END.exec(window); match; match = SENTENCE_END.exec(window)) last = match.index + 1;
  return last;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

function locate(source: string, piece: string, from: number): { start: number; end: number } | undefined {
  let start = source.indexOf(piece, from);
  if (start < 0) start = source.indexOf(piece);
  if (start >= 0) return { start, end: start + piece.length };
  // The splitter trims and joins on whitespace; if it ever rewrote whitespace, match the words instead.
  const words = piece.split(/\s+/).filter(Boolean).map(escapeRegExp);
  if (words.length === 0) return undefined;
  const match = new RegExp(words.join("\\s+"), "g");
  match.lastIndex = from;
  let found = match.exec(source);
  if (!found) {
    match.lastIndex = 0;
    found = match.exec(source);
  }
  return found ? { start: found.index, end: found.index + found[0].length } : undefined;
}

function escapeRegExp(text: string) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
