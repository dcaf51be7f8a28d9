import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { parentPort } from "node:worker_threads";
import { getDocumentProxy, getResolvedPDFJS } from "unpdf";
import { MAX_DOCUMENT_CHARS } from "../../../src/shared/origin-contract.ts";
import { AppError, type ErrorCode } from "../errors.ts";
import type { ParsedDocument } from "./port.ts";
import { headingText, tidyLines } from "./text-content.ts";

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;

/** What pdf.ts sends a PDF thread: the file (transferred, so the thread owns it) and its page limit. */
export type PdfTask = { bytes: Uint8Array; maxPages: number };
/** What the thread answers: "ready" once pdf.js is loaded, then one reply per task. */
export type PdfReply =
  | { ready: true }
  | { ok: true; document: ParsedDocument }
  | { ok: false; code: ErrorCode; message: string; cause?: string };

/**
 * A PDF thread: reads one PDF at a time from its text layer, one page at a time, with pdf.js
 * (Mozilla's, as unpdf packages it for servers: no canvas, nothing native). pdf.ts runs it in a
 * worker thread and watches its memory and time, which is what stops a decompression bomb: here the
 * file is read as if it were harmless. Each page with text is one block with its `page`; pages
 * without text give none. The title is the document information's Title.
 *
 * Failures: a password needed to open it → PDF_ENCRYPTED (a PDF encrypted with an empty user
 * password opens, as in any viewer); more pages than `maxPages` → PDF_TOO_MANY_PAGES, checked before
 * any page is read; more text than a document holds → DOCUMENT_TOO_LONG, as soon as the pages read
 * pass it; no text on any page (a scan) → PDF_NO_TEXT_LAYER; anything else pdf.js cannot read
 * (truncated, not a PDF inside) → FILE_CORRUPT.
 */
export async function readPdf(bytes: Uint8Array, limits: { maxPages: number }): Promise<ParsedDocument> {
  const pdfjs = await getResolvedPDFJS();
  let pdf: PdfDocument;
  try {
    pdf = await getDocumentProxy(bytes, { verbosity: pdfjs.VerbosityLevel.ERRORS });
  } catch (err) {
    if (err instanceof pdfjs.PasswordException) {
      throw new AppError("PDF_ENCRYPTED", "The PDF is encrypted: it needs a password to open. Send it without the password protection.");
    }
    throw corrupt(err);
  }
  try {
    if (pdf.numPages > limits.maxPages) {
      throw new AppError("PDF_TOO_MANY_PAGES", `The PDF has ${pdf.numPages} pages; at most ${limits.maxPages} are read.`);
    }
    return await readPages(pdf);
  } catch (err) {
    throw err instanceof AppError ? err : corrupt(err);
  } finally {
    // Frees pdf.js's copy of the file; a failure to clean up must not replace the answer.
    await pdf.loadingTask.destroy().catch(() => {});
  }
}

async function readPages(pdf: PdfDocument): Promise<ParsedDocument> {
  const blocks: ParsedDocument["blocks"] = [];
  let chars = 0;
  for (let number = 1; number <= pdf.numPages; number++) {
    const page = await pdf.getPage(number);
    const content = await page.getTextContent();
    // As unpdf's extractText joins a page's items: each item's string, a line break where pdf.js saw one.
    const text = tidyLines(content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : "")).join(""));
    page.cleanup();
    if (text) blocks.push({ text, page: number });
    chars += text.length;
    // The rest of the pages could only make it longer: stop reading (document-parser.ts checks it anyway).
    if (chars > MAX_DOCUMENT_CHARS) {
      throw new AppError(
        "DOCUMENT_TOO_LONG",
        `The PDF's text passes ${MAX_DOCUMENT_CHARS} characters by page ${number} of ${pdf.numPages}; a document holds at most ${MAX_DOCUMENT_CHARS}.`,
      );
    }
    // pdf.js's own work between pages (its messages, cleanup) gets its turn.
    await yieldToEventLoop();
  }
  if (blocks.length === 0) {
    throw new AppError(
      "PDF_NO_TEXT_LAYER",
      `None of the PDF's ${pdf.numPages} pages has a text layer (a scanned or image-only PDF). OCR is out of scope: send a PDF with text.`,
    );
  }
  return { title: await titleOf(pdf), blocks };
}

async function titleOf(pdf: PdfDocument): Promise<string | null> {
  const { info } = await pdf.getMetadata().catch(() => ({ info: undefined }));
  const title = (info as { Title?: unknown } | undefined)?.Title;
  return (typeof title === "string" && headingText(title)) || null;
}

const corrupt = (cause: unknown) => new AppError("FILE_CORRUPT", "The PDF cannot be read: it is damaged or incomplete.", { cause });

/**
 * The smallest PDF with a text layer, read once before the thread says it is ready: pdf.js sets
 * itself up on its first document (about 150 ms here), which no file's deadline or memory should pay.
 */
const WARM_UP = `%PDF-1.4
1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj
2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj
3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R
  /Resources <</Font <</F1 <</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>>>>>>> endobj
4 0 obj <</Length 35>> stream
BT /F1 12 Tf 10 50 Td (ready) Tj ET
endstream endobj
trailer <</Root 1 0 R>>
%%EOF
`;

/** As a worker thread: pdf.js is loaded and set up before "ready", so a task's time and memory are its file's own. */
if (parentPort) {
  const port = parentPort;
  await readPdf(new TextEncoder().encode(WARM_UP), { maxPages: 1 }).catch(() => {});
  port.on("message", async ({ bytes, maxPages }: PdfTask) => {
    let reply: PdfReply;
    try {
      reply = { ok: true, document: await readPdf(bytes, { maxPages }) };
    } catch (err) {
      const error = err instanceof AppError ? err : new AppError("INTERNAL_ERROR", "The PDF thread failed.", { cause: err });
      const cause = error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : undefined;
      reply = { ok: false, code: error.code, message: error.message, ...(cause ? { cause } : {}) };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true } satisfies PdfReply);
}
