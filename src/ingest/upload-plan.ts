/**
 * How the clients' uploads (the console's, `edge-rag ingest`'s) fit the files route's limits
 * (src/ingest/document-input.ts FILE_LIMITS, INGEST_LIMITS): at most 20 files, each 25 MiB, 32 MiB
 * in all (less room for the multipart framing here), 10 MiB of JSON Lines text (less a margin
 * here), and 1,000 documents (a JSON Lines line is one) a request. A larger upload goes in several
 * requests. No DOM and no Node: unit-tested in Node, bundled into the console, imported by the CLI.
 */
export const REQUEST_FILES = 20;
export const FILE_BYTES = 25 * 1024 * 1024;
export const REQUEST_BYTES = 31 * 1024 * 1024;
export const REQUEST_JSON_LINES_BYTES = 9.5 * 1024 * 1024;
export const REQUEST_DOCUMENTS = 1000;

/** What the plan reads of a file: a browser's File, or the CLI's description of one on disk. */
export interface Sized {
  name: string;
  size: number;
}

/** What one part of a request carries: a file, or a slice of a JSON Lines file's lines, and how many documents that is. */
export interface Piece<F extends Sized = File> {
  file: F;
  documents: number;
  /** Its JSON Lines text, in bytes (0 for any other file). */
  jsonLines: number;
}

export const isJsonLines = (name: string) => /\.(jsonl|ndjson)$/i.test(name);

/**
 * A file sent whole (anything but plain JSON Lines) as its one part, or the reason it cannot be
 * sent: empty, or over the route's per-file limit.
 */
export function filePiece<F extends Sized>(file: F): Piece<F> | string {
  if (file.size === 0) return "the file is empty";
  if (file.size > FILE_BYTES) return `${mib(file.size)}; a file may have at most ${mib(FILE_BYTES)}`;
  // A gzipped JSON Lines file is sent as it is, alone: its line count is only known once inflated.
  return { file, documents: /\.(jsonl|ndjson)\.gz$/i.test(file.name) ? REQUEST_DOCUMENTS : 1, jsonLines: 0 };
}

/**
 * A file as the parts it is sent in: itself, or a JSON Lines file too long for one request cut
 * into runs of lines (`lineRuns`, padded), each run under the file's name (so that the server names
 * a bad line `<file>#<line>` in every part) and led by blank lines for the lines before it (which
 * the server skips), so that line numbers stay the file's. A reason string when it cannot be sent.
 */
export async function piecesOf(file: File): Promise<Piece[] | string> {
  if (file.size === 0) return "the file is empty";
  if (!isJsonLines(file.name)) {
    const piece = filePiece(file);
    return typeof piece === "string" ? piece : [piece];
  }
  const pieces: Piece[] = [];
  try {
    for await (const run of lineRuns((await file.text()).split("\n"), { padded: true })) {
      const part = new File([run.text], file.name, { type: "application/jsonl" });
      pieces.push({ file: part, documents: run.documents, jsonLines: part.size });
    }
  } catch (error) {
    if (error instanceof UnsendableLine) return error.message;
    throw error;
  }
  return pieces.length > 0 ? pieces : "the file has no lines";
}

/** A run of a JSON Lines file's lines that one request can carry. */
export interface LineRun {
  /** The index of its first line in the file (0-based): the server's line n of the run is the file's line start + n. */
  start: number;
  /** Its lines joined by "\n" (blank ones kept, so line numbers hold), led by `start` blank lines when padded. */
  text: string;
  /** Its non-blank lines: the documents it is. */
  documents: number;
}

/** A line that no request can carry: longer than a request's JSON Lines text, alone or after the padding it needs. */
export class UnsendableLine extends Error {}

/**
 * A JSON Lines file's lines (without their "\n"; a Node stream's or a string's split) as runs, in
 * order, each within one request's JSON Lines text (REQUEST_JSON_LINES_BYTES, a line counted with
 * its newline) and at most `documents` non-blank lines (default REQUEST_DOCUMENTS); runs with no
 * document are skipped. `padded` leads each run with blank lines for the lines before it (the
 * console's way to keep the server's line numbers the file's; padding counts towards the text, so
 * a file of millions of lines cannot be sent so). Without it, the caller maps line numbers back
 * with `start` (the CLI's way, for corpora of any length). Throws UnsendableLine.
 */
export async function* lineRuns(
  lines: Iterable<string> | AsyncIterable<string>,
  options: { documents?: number; padded?: boolean } = {},
): AsyncGenerator<LineRun> {
  const most = options.documents ?? REQUEST_DOCUMENTS;
  let start = 0;
  let index = 0;
  let run: string[] = [];
  let documents = 0;
  let bytes = 0;
  const cut = (): LineRun | undefined => {
    const done = documents > 0 ? { start, text: (options.padded ? "\n".repeat(start) : "") + run.join("\n"), documents } : undefined;
    start = index;
    run = [];
    documents = 0;
    bytes = options.padded ? start : 0;
    return done;
  };
  for await (const line of lines) {
    const size = utf8Length(line) + 1;
    if (run.length > 0 && (documents >= most || bytes + size > REQUEST_JSON_LINES_BYTES)) {
      const done = cut();
      if (done) yield done;
    }
    if (bytes + size > REQUEST_JSON_LINES_BYTES)
      throw new UnsendableLine(
        size > REQUEST_JSON_LINES_BYTES
          ? `line ${index + 1} is more than ${mib(REQUEST_JSON_LINES_BYTES)}`
          : "too many lines to send with their line numbers: split the file",
      );
    run.push(line);
    bytes += size;
    if (line.trim()) documents++;
    index++;
  }
  const done = cut();
  if (done) yield done;
}

/** The parts in requests within the route's limits (at most `documents` documents a request, default REQUEST_DOCUMENTS), in order; two parts of one name never share a request (their ids would clash). */
export function* requests<F extends Sized>(pieces: Iterable<Piece<F>>, options: { documents?: number } = {}): Generator<Piece<F>[]> {
  const most = Math.min(options.documents ?? REQUEST_DOCUMENTS, REQUEST_DOCUMENTS);
  let request: Piece<F>[] = [];
  let bytes = 0;
  let documents = 0;
  let jsonLines = 0;
  for (const piece of pieces) {
    const full =
      request.length >= REQUEST_FILES ||
      bytes + piece.file.size > REQUEST_BYTES ||
      documents + piece.documents > most ||
      jsonLines + piece.jsonLines > REQUEST_JSON_LINES_BYTES ||
      request.some((other) => other.file.name === piece.file.name);
    if (request.length > 0 && full) {
      yield request;
      request = [];
      bytes = 0;
      documents = 0;
      jsonLines = 0;
    }
    request.push(piece);
    bytes += piece.file.size;
    documents += piece.documents;
    jsonLines += piece.jsonLines;
  }
  if (request.length > 0) yield request;
}

/** A string's length in UTF-8 bytes, without encoding it (a lone surrogate counts as U+FFFD's 3 bytes, as TextEncoder writes it). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`;
