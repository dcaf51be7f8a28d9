import { constants, deflateSync } from "node:zlib";
import { encryptPDF } from "@pdfsmaller/pdf-encrypt-lite";
import { Document, HeadingLevel, Packer, Paragraph } from "docx";
import { unzipSync, zipSync } from "fflate";
import { PDFDocument, rgb, StandardFonts } from "pdf-lib";

/**
 * Files made by the tests themselves (no binaries in the repository): PDFs with pdf-lib (encrypted
 * with @pdfsmaller/pdf-encrypt-lite, pdf-lib's RC4-128 standard security handler), Word documents
 * with the docx package, archives with fflate (node:zlib for the bombs), HTML and Markdown by hand.
 */

export const FACT = "The zebra code is 4417.";

export const MEDIA = {
  pdf: "application/pdf",
  html: "text/html; charset=utf-8",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  markdown: "text/markdown",
  text: "text/plain",
} as const;

/** A PDF with one page per entry: a line of text, or (null) only a drawn rectangle, no text at all. */
export async function makePdf(pages: Array<string | null>, title?: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  if (title) pdf.setTitle(title);
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const text of pages) {
    const page = pdf.addPage([420, 300]);
    if (text === null) page.drawRectangle({ x: 40, y: 40, width: 200, height: 120, color: rgb(0.2, 0.3, 0.5) });
    else page.drawText(text, { x: 30, y: 250, size: 11, font });
  }
  return pdf.save();
}

/** A PDF of `pages` pages, each filled with 2-point text: about 55,000 characters a page (pdf.js reads no text off the page). */
export async function densePdf(pages: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const lines = Array.from({ length: 145 }, () => "dense text ".repeat(35)).join("\n");
  for (let i = 0; i < pages; i++) pdf.addPage([420, 300]).drawText(lines, { x: 10, y: 295, size: 2, lineHeight: 2, font });
  return pdf.save();
}

/** The three-page PDF whose fact is on page 3. */
export const threePagePdf = () => makePdf(["Page one introduces the widget.", "Page two covers nothing special.", FACT], "Widget Facts");

/** A PDF that opens only with a password (RC4 128-bit, the standard security handler). */
export const encryptedPdf = async () => encryptPDF(await threePagePdf(), "user-secret", "owner-secret");

/**
 * A PDF decompression bomb: one page with a line of text, and a second content stream of the same
 * page, FlateDecode-compressed, that inflates to `inflatedBytes` spaces (whitespace: valid content a
 * reader has to go through). Sent, it is about 1/1000 of that.
 */
export async function bombPdf(inflatedBytes: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const page = pdf.addPage([420, 300]);
  page.drawText("A page that looks like any other.", { x: 30, y: 250, size: 11, font });
  // Run-length matches only: as small as level 9 makes it (1/1000), four times sooner.
  const spaces = deflateSync(Buffer.alloc(inflatedBytes, " "), { level: 9, strategy: constants.Z_RLE });
  page.node.addContentStream(pdf.context.register(pdf.context.stream(spaces, { Filter: "FlateDecode" })));
  return pdf.save();
}

/** A page of real-looking HTML: navigation, banner and footer around an article with h1/h2/h3 sections. */
export function articleHtml(): string {
  const filler = (topic: string) => `${topic} matters for every widget owner, and this paragraph says so at some length. `.repeat(6);
  return `<!doctype html>
<html><head><title>ACME Docs</title><style>body { color: red }</style></head>
<body>
  <nav class="site-nav"><ul><li><a href="/">Home</a></li><li><a href="/pricing">Pricing plans</a></li><li><a href="/login">Sign in to ACME Cloud</a></li></ul></nav>
  <header><div class="banner">Subscribe to the ACME newsletter for weekly deals</div></header>
  <main><article>
    <h1>Widget manual</h1>
    <p>${filler("Reading the manual")}</p>
    <h2>Installation</h2>
    <p>${filler("Careful unpacking")}</p>
    <h3>Upgrades</h3>
    <p>Run <code>widget --upgrade</code> to upgrade. ${FACT}<br>Restart afterwards.</p>
    <h2>Safety</h2>
    <p>${filler("Keeping it dry")}</p>
  </article></main>
  <aside class="sidebar"><a href="/related">Related products you may like</a></aside>
  <footer>Copyright 2026 ACME Corp. All rights reserved. Privacy policy.</footer>
  <script>window.tracking = "analytics-snippet";</script>
</body></html>`;
}

/** Strings only the page's boilerplate holds: none may appear in what is parsed out of it. */
export const HTML_BOILERPLATE = [
  "Pricing plans",
  "Sign in to ACME Cloud",
  "newsletter",
  "Copyright 2026",
  "Related products",
  "analytics-snippet",
];

/** A Word document with Heading 1 / Heading 2 paragraphs, the fact under Setup › Upgrades. */
export async function makeDocx(options: { empty?: boolean } = {}): Promise<Uint8Array> {
  const heading = (text: string, level: (typeof HeadingLevel)[keyof typeof HeadingLevel]) => new Paragraph({ text, heading: level });
  const children = options.empty
    ? []
    : [
        new Paragraph("Front text before any heading."),
        heading("Setup", HeadingLevel.HEADING_1),
        new Paragraph("Setup begins here."),
        heading("Upgrades", HeadingLevel.HEADING_2),
        new Paragraph(FACT),
        heading("Usage", HeadingLevel.HEADING_1),
        new Paragraph("Usage text."),
      ];
  return Packer.toBuffer(new Document({ title: "Widget Handbook", sections: [{ children }] }));
}

/** A "DOCX" whose document.xml honestly declares `bytes` of content (a decompression bomb: zeros compress ~1000:1). */
export const bombDocx = (bytes: number) =>
  zipSync({ "[Content_Types].xml": new Uint8Array(10), "word/document.xml": [new Uint8Array(bytes), { level: 9 }] });

/**
 * A real Word document whose word/document.xml inflates to `padding` bytes more than its headers
 * declare (a bomb that lies about its size): the XML is padded with trailing spaces, which XML
 * allows, and the sizes fflate wrote are put back to the unpadded length. Read without checking the
 * sizes, it is a good document.
 */
export async function lyingDocx(padding: number): Promise<Uint8Array> {
  const files = unzipSync(await makeDocx());
  const xml = files["word/document.xml"]!;
  const padded = new Uint8Array(xml.length + padding).fill(0x20);
  padded.set(xml);
  const zip = zipSync({ ...files, "word/document.xml": [padded, { level: 9 }] });
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const nameAt = (offset: number, length: number) => new TextDecoder().decode(zip.subarray(offset, offset + length));
  for (let at = 0; at + 46 <= zip.length; at++) {
    const signature = view.getUint32(at, true);
    // Local file header: size at 22, name length at 26, name at 30. Central directory: 24, 28, 46.
    if (signature === 0x04034b50 && nameAt(at + 30, view.getUint16(at + 26, true)) === "word/document.xml")
      view.setUint32(at + 22, xml.length, true);
    if (signature === 0x02014b50 && nameAt(at + 46, view.getUint16(at + 28, true)) === "word/document.xml")
      view.setUint32(at + 24, xml.length, true);
  }
  return zip;
}

export const MARKDOWN = `---
title: Widget Notes
---
Intro before any heading.

# Setup

Setup text.

## Upgrades

${FACT}

# Usage
Usage text.
`;

export const encode = (text: string) => new TextEncoder().encode(text);
/** Bytes that are not UTF-8 (a lone continuation byte). */
export const NOT_UTF8 = new Uint8Array([0x48, 0x69, 0x80, 0xff, 0x21]);
