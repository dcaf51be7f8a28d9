import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { getDocumentProxy, getResolvedPDFJS } from "unpdf";
import { AppError } from "../errors.ts";
import type { FormatParser, ParsedDocument } from "./port.ts";
import { headingText, tidyLines } from "./text-content.ts";

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;

/**
 * PDF, from its text layer, one page at a time, with pdf.js (Mozilla's, as unpdf packages it for
 * servers: no worker thread, no canvas, nothing native). Each page with text is one block with its
 * `page`; pages without text give none. The title is the document information's Title.
 *
 * Failures: a password needed to open it → PDF_ENCRYPTED (a PDF encrypted with an empty user
 * password opens, as in any viewer); more pages than `maxPages` → PDF_TOO_MANY_PAGES, checked before
 * any page is read; no text on any page (a scan) → PDF_NO_TEXT_LAYER; anything else pdf.js cannot
 * read (truncated, not a PDF inside) → FILE_CORRUPT.
 */
export function createPdfParser(limits: { maxPages: number }): FormatParser {
  return {
    format: "pdf",
    async parse({ bytes }) {
      const pdfjs = await getResolvedPDFJS();
      let pdf: PdfDocument;
      try {
        // A copy: pdf.js may take (detach) the buffer it is given.
        pdf = await getDocumentProxy(bytes.slice(), { verbosity: pdfjs.VerbosityLevel.ERRORS });
      } catch (err) {
        if (err instanceof pdfjs.PasswordException) {
          throw new AppError(
            "PDF_ENCRYPTED",
            "The PDF is encrypted: it needs a password to open. Send it without the password protection.",
          );
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
    },
  };
}

async function readPages(pdf: PdfDocument): Promise<ParsedDocument> {
  const blocks: ParsedDocument["blocks"] = [];
  for (let number = 1; number <= pdf.numPages; number++) {
    const page = await pdf.getPage(number);
    const content = await page.getTextContent();
    // As unpdf's extractText joins a page's items: each item's string, a line break where pdf.js saw one.
    const text = tidyLines(content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : "")).join(""));
    page.cleanup();
    if (text) blocks.push({ text, page: number });
    // A long PDF never holds off probes and other calls for more than one page's time.
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
