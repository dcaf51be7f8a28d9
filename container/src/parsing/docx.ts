import { zipSync } from "fflate";
import { DOMParser, parseHTML } from "linkedom";
import mammoth from "mammoth";
import { AppError } from "../errors.ts";
import { blocksOfHtml } from "./outline.ts";
import type { FormatParser } from "./port.ts";
import { headingText } from "./text-content.ts";
import { readArchive } from "./zip.ts";

/**
 * DOCX (Word 2007 and later): mammoth turns the document into semantic HTML (paragraph styles
 * "Heading 1" to "Heading 6" become h1–h6), whose headings become the sections (outline.ts). The
 * title is the document properties' dc:title.
 *
 * A DOCX is a ZIP archive: zip.ts reads it within PARSE_MAX_UNZIPPED_BYTES first, and mammoth
 * reads exactly the files checked there, stored again uncompressed (fflate), so it never inflates
 * anything itself.
 *
 * Failures: the archive's → ARCHIVE_TOO_LARGE or FILE_CORRUPT (zip.ts); an archive without
 * word/document.xml → FILE_TYPE_MISMATCH (a ZIP, not a Word document); a document mammoth cannot
 * read → FILE_CORRUPT; no text → NO_TEXT.
 */
export function createDocxParser(limits: { maxUnzippedBytes: number }): FormatParser {
  return {
    format: "docx",
    async parse({ bytes }) {
      const files = await readArchive(bytes, limits);
      if (!files.has("word/document.xml")) {
        throw new AppError("FILE_TYPE_MISMATCH", "The file is a ZIP archive but not a Word document: it has no word/document.xml.");
      }
      const stored = zipSync(Object.fromEntries([...files].map(([name, data]) => [name, [data, { level: 0 }] as const])));
      let html: string;
      try {
        const result = await mammoth.convertToHtml(
          { buffer: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength) },
          // Images are not text: mammoth would otherwise inline each one as base64.
          { convertImage: mammoth.images.imgElement(async () => ({ src: "" })) },
        );
        html = result.value;
      } catch (err) {
        throw new AppError("FILE_CORRUPT", "The Word document cannot be read: its XML is damaged.", { cause: err });
      }
      const { document } = parseHTML(`<!doctype html><html><head></head><body>${html}</body></html>`);
      const blocks = blocksOfHtml(document.body as unknown as Node);
      if (blocks.length === 0) throw new AppError("NO_TEXT", "The Word document has no text.");
      return { title: titleOf(files.get("docProps/core.xml")), blocks };
    },
  };
}

/** The dc:title of the document's core properties, if any. */
function titleOf(coreXml: Uint8Array | undefined): string | null {
  if (!coreXml) return null;
  try {
    const properties = new DOMParser().parseFromString(new TextDecoder().decode(coreXml), "text/xml");
    return headingText(properties.getElementsByTagName("dc:title")[0]?.textContent ?? "") || null;
  } catch {
    return null; // a title is a nicety: damaged properties do not fail the document
  }
}
