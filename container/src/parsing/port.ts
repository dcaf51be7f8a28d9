import type { LocatedBlock, ParseFormat } from "../../../src/shared/origin-contract.ts";

/** A file as a parser gets it: its bytes, already checked to be of the parser's format (sniff.ts). */
export type FileInput = {
  bytes: Uint8Array;
  /** The Content-Type's charset parameter, for the text formats; UTF-8 when absent. */
  charset?: string;
};

/** A file's text in reading order, in blocks that each say where they came from. */
export type ParsedDocument = { title: string | null; blocks: LocatedBlock[] };

/**
 * The parser port: one adapter per format (pdf.ts, html.ts, docx.ts, markdown.ts, text.ts), all run
 * against one conformance suite (test/parsing-conformance.test.ts).
 *
 * Promise: resolves with at least one block of non-blank text, in reading order; a PDF's blocks
 * carry `page` (1-based, one block per page with text), the others' carry `section` (the heading
 * path from the top; absent before the first heading). Headings are cut to MAX_HEADING_CHARS.
 *
 * Failure modes: a file it cannot read is an AppError with a 4xx code of its own — FILE_CORRUPT,
 * PDF_ENCRYPTED, PDF_NO_TEXT_LAYER, NO_TEXT, PDF_TOO_MANY_PAGES, PDF_EXPANDS_TOO_FAR,
 * PDF_TOO_COMPLEX, ARCHIVE_TOO_LARGE, DOCUMENT_TOO_LONG, FILE_TYPE_MISMATCH (text that does not
 * decode) — never another error, and never a crash.
 *
 * Latency: CPU in this process, in steps that yield to the event loop (an archive entry), or, for a
 * PDF, in a worker thread (pdf.ts): a few ms per PDF page, tens of ms for a typical web page or Word file.
 */
export interface FormatParser {
  readonly format: ParseFormat;
  parse(file: FileInput): Promise<ParsedDocument>;
}
