import { MAX_BLOCKS, MAX_DOCUMENT_CHARS, type ParseFormat, type ParseResponse, textOfBlocks } from "../../../src/shared/origin-contract.ts";
import { AppError } from "../errors.ts";
import type { FormatParser } from "./port.ts";
import { checkBytes, claimedFormat } from "./sniff.ts";

export type ParseLimits = {
  maxPages: number;
  maxUnzippedBytes: number;
  /** What reading one PDF may add to its thread's memory, and how long it may take (pdf.ts). */
  maxPdfMemoryBytes: number;
  pdfTimeoutMs: number;
  maxConcurrent: number;
};

/** A file as POST /v1/parse receives it: its bytes are read only once the parser takes it on. */
export type UploadedFile = { read: () => Promise<Uint8Array>; contentType: string | undefined; filename: string | undefined };

/** The parse use case: a file's bytes in, its located text out (the answer of POST /v1/parse). */
export interface DocumentParser {
  parse(file: UploadedFile): Promise<ParseResponse>;
}

/**
 * Reads a file as the format it claims (sniff.ts: Content-Type, else its name), once its bytes are
 * shown to be that format, with that format's adapter (port.ts), and holds the answer to what
 * /v1/chunk accepts: at most MAX_DOCUMENT_CHARS of text in at most MAX_BLOCKS blocks
 * (DOCUMENT_TOO_LONG otherwise), so that whatever parses also chunks.
 *
 * At most `maxConcurrent` files are read and parsed at once: one more is OVERLOADED (503,
 * Retry-After: 1) before its body is read, and a type that is not read is refused (415) before
 * that too, so memory holds at most that many files and what their libraries build from them.
 *
 * Each format's libraries load on its first file, not at start-up: together they take seconds to
 * import, which every start (and every probe waiting on it) would pay for files it may never see.
 */
export function createDocumentParser(limits: ParseLimits): DocumentParser {
  const adapters: Record<ParseFormat, () => Promise<FormatParser>> = {
    pdf: async () =>
      (await import("./pdf.ts")).createPdfParser({
        maxPages: limits.maxPages,
        maxMemoryBytes: limits.maxPdfMemoryBytes,
        timeoutMs: limits.pdfTimeoutMs,
      }),
    html: async () => (await import("./html.ts")).createHtmlParser(),
    docx: async () => (await import("./docx.ts")).createDocxParser({ maxUnzippedBytes: limits.maxUnzippedBytes }),
    markdown: async () => (await import("./markdown.ts")).createMarkdownParser(),
    text: async () => (await import("./text.ts")).createTextParser(),
  };
  const loaded = new Map<ParseFormat, Promise<FormatParser>>();
  const adapter = (format: ParseFormat) => {
    if (!loaded.has(format)) loaded.set(format, adapters[format]());
    return loaded.get(format)!;
  };
  let active = 0;
  return {
    async parse({ read, contentType, filename }) {
      const claim = claimedFormat(contentType, filename);
      if (active >= limits.maxConcurrent) {
        throw new AppError("OVERLOADED", `${limits.maxConcurrent} files are being parsed; send this one again shortly.`, {
          retryAfterSeconds: 1,
        });
      }
      active += 1;
      try {
        const bytes = await read();
        if (bytes.length === 0) throw new AppError("VALIDATION_FAILED", "The body is empty: send the file's bytes.");
        await checkBytes(claim.format, bytes);
        const { title, blocks } = await (await adapter(claim.format)).parse({ bytes, charset: claim.charset });
        const chars = textOfBlocks(blocks).length;
        if (chars > MAX_DOCUMENT_CHARS || blocks.length > MAX_BLOCKS) {
          throw new AppError(
            "DOCUMENT_TOO_LONG",
            `The file's text is ${chars} characters in ${blocks.length} blocks; a document holds at most ${MAX_DOCUMENT_CHARS} characters in ${MAX_BLOCKS} blocks.`,
          );
        }
        return { format: claim.format, title, blocks };
      } finally {
        active -= 1;
      }
    },
  };
}
