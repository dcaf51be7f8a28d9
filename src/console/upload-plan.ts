/**
 * How the console's upload fits the files route's limits (src/ingest/document-input.ts FILE_LIMITS,
 * INGEST_LIMITS): at most 20 files, each 25 MiB, 32 MiB in all (less room for the multipart framing
 * here), 10 MiB of JSON Lines text (less a margin here), and 1,000 documents (a JSON Lines line is
 * one) a request. A larger upload goes in several requests. No DOM: unit-tested in Node.
 */
export const REQUEST_FILES = 20;
export const FILE_BYTES = 25 * 1024 * 1024;
export const REQUEST_BYTES = 31 * 1024 * 1024;
export const REQUEST_JSON_LINES_BYTES = 9.5 * 1024 * 1024;
export const REQUEST_DOCUMENTS = 1000;

/** What one part of a request carries: a file, or a slice of a JSON Lines file's lines, and how many documents that is. */
export interface Piece {
  file: File;
  documents: number;
  /** Its JSON Lines text, in bytes (0 for any other file). */
  jsonLines: number;
}

const isJsonLines = (name: string) => /\.(jsonl|ndjson)$/i.test(name);

/**
 * A file as the parts it is sent in: itself, or a JSON Lines file too long for one request cut
 * into runs of lines, each run under the file's name (so that the server names a bad line
 * `<file>#<line>` in every part) and led by blank lines for the lines before it (which the server
 * skips), so that line numbers stay the file's. A reason string when it cannot be sent.
 */
export async function piecesOf(file: File): Promise<Piece[] | string> {
  if (file.size === 0) return "the file is empty";
  if (!isJsonLines(file.name)) {
    if (file.size > FILE_BYTES) return `${mib(file.size)}; a file may have at most ${mib(FILE_BYTES)}`;
    // A gzipped JSON Lines file is sent as it is, alone: its line count is only known once inflated.
    return [{ file, documents: /\.(jsonl|ndjson)\.gz$/i.test(file.name) ? REQUEST_DOCUMENTS : 1, jsonLines: 0 }];
  }
  const lines = (await file.text()).split("\n");
  const pieces: Piece[] = [];
  let start = 0;
  while (start < lines.length) {
    let end = start;
    let documents = 0;
    let bytes = start;
    while (end < lines.length && documents < REQUEST_DOCUMENTS) {
      const size = new TextEncoder().encode(lines[end]!).length + 1;
      if (bytes + size > REQUEST_JSON_LINES_BYTES) break;
      if (lines[end]!.trim()) documents++;
      bytes += size;
      end++;
    }
    if (end === start)
      return start >= REQUEST_JSON_LINES_BYTES
        ? "too many lines to send with their line numbers: split the file"
        : `line ${start + 1} is more than ${mib(REQUEST_JSON_LINES_BYTES)}`;
    if (documents > 0) {
      const part = new File(["\n".repeat(start), lines.slice(start, end).join("\n")], file.name, { type: "application/jsonl" });
      pieces.push({ file: part, documents, jsonLines: part.size });
    }
    start = end;
  }
  return pieces.length > 0 ? pieces : "the file has no lines";
}

/** The parts in requests within the route's limits, in order; two parts of one name never share a request (their ids would clash). */
export function* requests(pieces: Piece[]): Generator<Piece[]> {
  let request: Piece[] = [];
  let bytes = 0;
  let documents = 0;
  let jsonLines = 0;
  for (const piece of pieces) {
    const full =
      request.length >= REQUEST_FILES ||
      bytes + piece.file.size > REQUEST_BYTES ||
      documents + piece.documents > REQUEST_DOCUMENTS ||
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

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`;
