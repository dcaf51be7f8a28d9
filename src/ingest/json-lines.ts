import { type DocumentInput, type DocumentMetadata, documentSchemas, FILE_LIMITS } from "./document-input";
import { jsonLineDocument } from "./source-files";

/**
 * A JSON Lines file sent to POST /v1/documents/files: one document per line, in the line formats
 * `edge-rag ingest` reads (`{"id","text","metadata"}` or BEIR's `{"_id","title","text"}`, read by
 * source-files.ts `jsonLineDocument`, the one reader both clients use). Read in the worker: it
 * needs no parser at the origin, and its documents are JSON documents (no original is kept; a
 * re-index reads their stored text).
 *
 * Promise: every line is either a document (validated as POST /v1/documents validates one) or a
 * failure that names its line (`INVALID_LINE: line 3: not JSON`), so a bad line fails its own
 * document alone. A gzipped file (`.jsonl.gz`, or a gzip Content-Type) is inflated to at most
 * FILE_LIMITS.maxJsonLinesBytes: beyond, the whole file fails (ARCHIVE_TOO_LARGE), which is what
 * stops a decompression bomb. Latency: CPU only, linear in the file's size.
 */

const JSON_LINES_TYPES = new Set(["application/jsonl", "application/x-ndjson", "application/x-jsonlines", "application/json-lines"]);
const GZIP_TYPES = new Set(["application/gzip", "application/x-gzip"]);

const mediaType = (contentType: string) => contentType.split(";")[0]!.trim().toLowerCase();

/** Whether a part is JSON Lines (by its Content-Type or its extension), and whether it is gzipped. */
export function jsonLinesKind(file: { filename: string; contentType: string }): { gzip: boolean } | null {
  const type = mediaType(file.contentType);
  const name = file.filename.toLowerCase();
  if (/\.(jsonl|ndjson)\.gz$/.test(name) && (GZIP_TYPES.has(type) || type === "application/octet-stream" || JSON_LINES_TYPES.has(type)))
    return { gzip: true };
  if (JSON_LINES_TYPES.has(type) || /\.(jsonl|ndjson)$/.test(name)) return { gzip: false };
  return null;
}

/** One line's outcome: its document, or its failure (`id` names the line: `<file id>#<line>`, which no document id can be). */
export type JsonLine = { line: number; document: DocumentInput } | { line: number; failed: { id: string; error: string } };

export interface JsonLinesFile {
  /** The file's own document id (its name made an id): the failures of its lines are named after it. */
  id: string;
  /** Its text's size in bytes (inflated, for a gzipped file); 0 when it failed whole. */
  bytes: number;
  lines: JsonLine[];
  /** The whole file's failure (it could not be inflated, or it is not UTF-8 text). */
  failed?: { id: string; error: string };
}

/** The file's lines as documents or failures; blank lines are skipped. `metadata` is every document's, under each line's own. */
export async function readJsonLines(
  file: { id: string; body: Blob },
  kind: { gzip: boolean },
  metadata: DocumentMetadata,
): Promise<JsonLinesFile> {
  let text: string;
  let bytes: number;
  try {
    ({ text, bytes } = await textOf(file.body, kind.gzip));
  } catch (error) {
    const reason =
      error instanceof TooLarge
        ? `ARCHIVE_TOO_LARGE: the file inflates to more than ${FILE_LIMITS.maxJsonLinesBytes} bytes`
        : kind.gzip
          ? "FILE_CORRUPT: the file is not valid gzip"
          : "FILE_CORRUPT: the file is not UTF-8 text";
    return { id: file.id, bytes: 0, lines: [], failed: { id: file.id, error: reason } };
  }
  const { DocumentInputSchema } = documentSchemas();
  const lines: JsonLine[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = index + 1;
    if (!raw.trim()) continue;
    const fail = (detail: string): JsonLine => ({
      line,
      failed: { id: `${file.id}#${line}`, error: `INVALID_LINE: line ${line}: ${detail}` },
    });
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch {
      lines.push(fail("not JSON"));
      continue;
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      lines.push(fail("not a JSON object"));
      continue;
    }
    const read = jsonLineDocument(record as Record<string, unknown>);
    if (typeof read === "string") {
      lines.push(fail(read));
      continue;
    }
    const merged = { ...read, metadata: { ...metadata, ...(read.metadata ?? {}) } };
    const parsed = DocumentInputSchema.safeParse(Object.keys(merged.metadata).length > 0 ? merged : { ...read, metadata: undefined });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      lines.push(fail(`${issue.path.join(".") || "document"}: ${issue.message}`));
      continue;
    }
    lines.push({ line, document: parsed.data });
  }
  return { id: file.id, bytes, lines };
}

class TooLarge extends Error {}

/** The file as text, and its size: strict UTF-8, inflated first when gzipped (at most FILE_LIMITS.maxJsonLinesBytes of it). */
async function textOf(body: Blob, gzip: boolean): Promise<{ text: string; bytes: number }> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  if (!gzip) return { text: decoder.decode(await body.arrayBuffer()), bytes: body.size };
  const reader = body.stream().pipeThrough(new DecompressionStream("gzip")).getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > FILE_LIMITS.maxJsonLinesBytes) {
      await reader.cancel();
      throw new TooLarge();
    }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.byteLength;
  }
  return { text: decoder.decode(all), bytes: size };
}
