import { encryptPDF } from "@pdfsmaller/pdf-encrypt-lite";
import { zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { type LocatedBlock, MAX_DOCUMENT_CHARS, ParseResponseSchema } from "../../src/shared/origin-contract.ts";
import { AppError, type ErrorCode } from "../src/errors.ts";
import { createDocumentParser } from "../src/parsing/document-parser.ts";
import { createDocxParser } from "../src/parsing/docx.ts";
import { createHtmlParser } from "../src/parsing/html.ts";
import { createMarkdownParser } from "../src/parsing/markdown.ts";
import { createPdfParser } from "../src/parsing/pdf.ts";
import type { FormatParser } from "../src/parsing/port.ts";
import { createTextParser } from "../src/parsing/text.ts";
import {
  articleHtml,
  bombDocx,
  bombPdf,
  densePdf,
  encode,
  FACT,
  HTML_BOILERPLATE,
  lyingDocx,
  MARKDOWN,
  MEDIA,
  makeDocx,
  makePdf,
  NOT_UTF8,
  threePagePdf,
} from "./helpers/files.ts";

type Case = {
  parser: FormatParser;
  /** A file holding FACT, and where its block must say it is. */
  withFact: () => Promise<Uint8Array>;
  factAt: Omit<LocatedBlock, "text">;
  /** A well-formed file with no text, and the code it gets. */
  withoutText: () => Promise<Uint8Array>;
  noTextCode: ErrorCode;
  /** Bytes of the format that cannot be read. */
  damaged: () => Promise<Uint8Array>;
};

const MiB = 1024 * 1024;
/** Far above what a normal PDF takes (a few MiB), far below what the bombs below inflate to. */
const PDF_MEMORY_LIMIT = 32 * MiB;

const cases: Case[] = [
  {
    parser: createPdfParser({ maxPages: 100, maxMemoryBytes: PDF_MEMORY_LIMIT, timeoutMs: 60_000 }),
    withFact: threePagePdf,
    factAt: { page: 3 },
    withoutText: () => makePdf([null, null]),
    noTextCode: "PDF_NO_TEXT_LAYER",
    damaged: async () => (await threePagePdf()).slice(0, 700),
  },
  {
    parser: createHtmlParser(),
    withFact: async () => encode(articleHtml()),
    factAt: { section: ["Widget manual", "Installation", "Upgrades"] },
    withoutText: async () => encode("<!doctype html><html><head><title>Empty</title></head><body><div></div></body></html>"),
    noTextCode: "NO_TEXT",
    damaged: async () => NOT_UTF8,
  },
  {
    parser: createDocxParser({ maxUnzippedBytes: 10 * 1024 * 1024 }),
    withFact: makeDocx,
    factAt: { section: ["Setup", "Upgrades"] },
    withoutText: () => makeDocx({ empty: true }),
    noTextCode: "NO_TEXT",
    damaged: async () => {
      const docx = await makeDocx();
      return docx.slice(0, docx.length - 200); // the central directory is gone
    },
  },
  {
    parser: createMarkdownParser(),
    withFact: async () => encode(MARKDOWN),
    factAt: { section: ["Setup", "Upgrades"] },
    withoutText: async () => encode("---\ntitle: Only front matter\n---\n\n   \n"),
    noTextCode: "NO_TEXT",
    damaged: async () => NOT_UTF8,
  },
  {
    parser: createTextParser(),
    withFact: async () => encode(`Some notes.\n\n${FACT}\n`),
    factAt: {},
    withoutText: async () => encode(" \n\t \n"),
    noTextCode: "NO_TEXT",
    damaged: async () => NOT_UTF8,
  },
];

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("parsed, but should have failed");
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(AppError);
      return { code: (err as AppError).code, status: (err as AppError).status, detail: (err as AppError).message };
    },
  );

async function codeOf(promise: Promise<unknown>): Promise<{ code: ErrorCode; status: number }> {
  const error = await promise.then(
    () => new Error("parsed, but should have failed"),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(AppError);
  const { code, status } = error as AppError;
  return { code, status };
}

/** The parser port's promises (src/parsing/port.ts), checked against every format's adapter. */
for (const c of cases) {
  describe(`FormatParser conformance: ${c.parser.format}`, () => {
    it("happy: the fact is in exactly one block, which says where it came from; every block is valid and non-blank", async () => {
      const parsed = await c.parser.parse({ bytes: await c.withFact() });
      ParseResponseSchema.parse({ format: c.parser.format, ...parsed });
      for (const block of parsed.blocks) expect(block.text.trim()).not.toBe("");
      const holding = parsed.blocks.filter((block) => block.text.includes(FACT));
      expect(holding).toHaveLength(1);
      const { text: _, ...location } = holding[0]!;
      expect(location).toEqual(c.factAt);
    });

    it("error: a file with no text → its own 422 code", async () => {
      expect(await codeOf(c.parser.parse({ bytes: await c.withoutText() }))).toEqual({ code: c.noTextCode, status: 422 });
    });

    it("error: damaged bytes → a 4xx AppError, never another error", async () => {
      const { status } = await codeOf(c.parser.parse({ bytes: await c.damaged() }));
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    });
  });
}

const UNZIPPED_LIMIT = 4 * 1024 * 1024;
const parser = createDocumentParser({
  maxPages: 100,
  maxUnzippedBytes: UNZIPPED_LIMIT,
  maxPdfMemoryBytes: PDF_MEMORY_LIMIT,
  pdfTimeoutMs: 60_000,
  maxConcurrent: 2,
});
const upload = (bytes: Uint8Array, contentType: string, filename?: string) => ({ read: async () => bytes, contentType, filename });

/** Made once (deflating 256 MiB takes seconds): a PDF that inflates to 8 times PDF_MEMORY_LIMIT. */
let bomb: Promise<Uint8Array> | undefined;
const bomb256 = () => (bomb ??= bombPdf(256 * MiB));

describe("what each format keeps (the parse use case: claimed type, bytes checked, the adapter)", () => {
  it("happy: the scan's error says OCR is out of scope", async () => {
    const { code, detail } = await failure(parser.parse(upload(await makePdf([null]), MEDIA.pdf)));
    expect(code).toBe("PDF_NO_TEXT_LAYER");
    expect(detail).toMatch(/OCR is out of scope/);
  });

  it("happy: HTML keeps the article under its h1 › h2 › h3 path and drops navigation, banner, sidebar, footer and scripts", async () => {
    const parsed = await parser.parse(upload(encode(articleHtml()), MEDIA.html));
    expect(parsed.title).toBe("ACME Docs");
    expect(parsed.blocks.map((block) => block.section)).toEqual([
      ["Widget manual"],
      ["Widget manual", "Installation"],
      ["Widget manual", "Installation", "Upgrades"],
      ["Widget manual", "Safety"],
    ]);
    expect(parsed.blocks[2]!.text).toBe(`Upgrades\n\nRun widget --upgrade to upgrade. ${FACT}\nRestart afterwards.`);
    const all = parsed.blocks.map((block) => block.text).join("\n");
    for (const noise of HTML_BOILERPLATE) expect(all).not.toContain(noise);
  });

  it("happy: a page that leaves out <html>, <head> and <body> is read as a browser would", async () => {
    const html = `<!doctype html><title>Bare page</title><h1>Only heading</h1><p>${FACT}`;
    const parsed = await parser.parse(upload(encode(html), MEDIA.html));
    expect(parsed).toEqual({
      format: "html",
      title: "Bare page",
      blocks: [{ text: `Only heading\n\n${FACT}`, section: ["Only heading"] }],
    });
  });

  it("error: a page nested deeper than 256 elements is refused before Readability (which takes minutes on 20,000)", async () => {
    const deep = `<!doctype html><body>${"<div>".repeat(300)}deep${"</div>".repeat(300)}</body>`;
    expect((await failure(parser.parse(upload(encode(deep), MEDIA.html)))).code).toBe("DOCUMENT_TOO_LONG");
  });

  it("error: a PDF decompression bomb (a page's FlateDecode stream of 256 MiB) → PDF_EXPANDS_TOO_FAR, stopped long before its deadline; the next PDF parses", async () => {
    const bomb = await bomb256();
    expect(bomb.length).toBeLessThan(PDF_MEMORY_LIMIT / 100);
    const started = Date.now();
    const { code, status, detail } = await failure(parser.parse(upload(bomb, MEDIA.pdf)));
    expect({ code, status }).toEqual({ code: "PDF_EXPANDS_TOO_FAR", status: 413 });
    expect(detail).toContain(String(PDF_MEMORY_LIMIT));
    expect(Date.now() - started).toBeLessThan(30_000); // the memory watch stopped it, not the 60 s deadline
    // Its thread was stopped; the next PDF gets a new one.
    expect((await parser.parse(upload(await threePagePdf(), MEDIA.pdf))).blocks[2]!.text).toBe(FACT);
  });

  it("error: the bomb encrypted with an empty user password (pdf.js opens it; its streams inflate only once decrypted) → PDF_EXPANDS_TOO_FAR", async () => {
    const locked = await encryptPDF(await bomb256(), "", "owner-secret");
    expect((await failure(parser.parse(upload(locked, MEDIA.pdf)))).code).toBe("PDF_EXPANDS_TOO_FAR");
    // The same encryption on a good PDF reads, as in any viewer.
    const good = await encryptPDF(await threePagePdf(), "", "owner-secret");
    expect((await parser.parse(upload(good, MEDIA.pdf))).blocks[2]!.text).toBe(FACT);
  });

  it("error: a PDF still being read past its time limit → PDF_TOO_COMPLEX; the next PDF parses", async () => {
    // No memory limit in reach: only the deadline can stop it (pdf.js takes seconds over 256 MiB of content).
    const pdf = createPdfParser({ maxPages: 100, maxMemoryBytes: 16 * 1024 * MiB, timeoutMs: 1_000 });
    const { code, status } = await codeOf(pdf.parse({ bytes: await bomb256() }));
    expect({ code, status }).toEqual({ code: "PDF_TOO_COMPLEX", status: 413 });
    // Its thread was stopped; a new one starts (pdf.js loads) before the next file's deadline runs.
    expect((await pdf.parse({ bytes: await threePagePdf() })).blocks).toHaveLength(3);
  });

  it("error: a PDF whose text passes what a document holds is read no further than the page that passes it → DOCUMENT_TOO_LONG", async () => {
    const { code, detail } = await failure(parser.parse(upload(await densePdf(30), MEDIA.pdf)));
    expect(code).toBe("DOCUMENT_TOO_LONG");
    const [, page] = detail.match(/by page (\d+) of 30\b/) ?? [];
    expect(Number(page)).toBeGreaterThan(10);
    expect(Number(page)).toBeLessThan(30);
  });

  it("happy: DOCX Heading 1 / Heading 2 become the section path; text before the first heading has none", async () => {
    const parsed = await parser.parse(upload(await makeDocx(), MEDIA.docx));
    expect(parsed).toEqual({
      format: "docx",
      title: "Widget Handbook",
      blocks: [
        { text: "Front text before any heading." },
        { text: "Setup\n\nSetup begins here.", section: ["Setup"] },
        { text: `Upgrades\n\n${FACT}`, section: ["Setup", "Upgrades"] },
        { text: "Usage\n\nUsage text.", section: ["Usage"] },
      ],
    });
  });

  it("error: a decompression bomb: declared sizes past PARSE_MAX_UNZIPPED_BYTES → ARCHIVE_TOO_LARGE, before anything is inflated", async () => {
    const bomb = bombDocx(UNZIPPED_LIMIT + 1);
    expect(bomb.length).toBeLessThan(UNZIPPED_LIMIT / 100);
    expect((await failure(parser.parse(upload(bomb, MEDIA.docx)))).code).toBe("ARCHIVE_TOO_LARGE");
  });

  it("error: an archive whose entry inflates past its declared size is refused (a bomb that lies)", async () => {
    // 200 KiB more than declared: yauzl stops at the first byte past the declared size. Unchecked, it reads as a good document.
    const { code } = await failure(parser.parse(upload(await lyingDocx(200 * 1024), MEDIA.docx)));
    expect(code).toBe("FILE_CORRUPT");
  });

  it("error: a ZIP archive that is not a Word document is refused as a type mismatch", async () => {
    const { code, detail } = await failure(parser.parse(upload(zipSync({ "notes.txt": encode("hello") }), MEDIA.docx)));
    expect(code).toBe("FILE_TYPE_MISMATCH");
    expect(detail).toMatch(/no word\/document\.xml/);
  });

  it("happy: Markdown: front matter's title, headings as paths, the text kept as Markdown", async () => {
    const parsed = await parser.parse(upload(encode(MARKDOWN), MEDIA.markdown));
    expect(parsed).toEqual({
      format: "markdown",
      title: "Widget Notes",
      blocks: [
        { text: "Intro before any heading." },
        { text: "# Setup\n\nSetup text.", section: ["Setup"] },
        { text: `## Upgrades\n\n${FACT}`, section: ["Setup", "Upgrades"] },
        { text: "# Usage\nUsage text.", section: ["Usage"] },
      ],
    });
  });

  it("happy: text/plain named .md is Markdown; a declared charset is honoured", async () => {
    const markdown = await parser.parse(upload(encode("# Notes\n\nBody."), "text/plain", "notes.md"));
    expect(markdown).toMatchObject({ format: "markdown", title: "Notes" });
    const latin1 = await parser.parse(upload(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "text/plain; charset=windows-1252"));
    expect(latin1.blocks).toEqual([{ text: "café" }]);
  });

  it("error: text past what a document holds (what /v1/chunk takes) → DOCUMENT_TOO_LONG, for text and Markdown alike", async () => {
    const long = "word ".repeat(MAX_DOCUMENT_CHARS / 5 + 20_000);
    for (const type of [MEDIA.text, MEDIA.markdown])
      expect((await failure(parser.parse(upload(encode(long), type)))).code).toBe("DOCUMENT_TOO_LONG");
    const justFits = "word ".repeat(MAX_DOCUMENT_CHARS / 5).trim();
    expect((await parser.parse(upload(encode(justFits), MEDIA.text))).blocks[0]!.text).toHaveLength(MAX_DOCUMENT_CHARS - 1);
  });

  it("error: past maxConcurrent files at once, one more is OVERLOADED before its body is read; a freed slot takes the next", async () => {
    let release = () => {};
    const held = new Promise<void>((done) => (release = done));
    const slow = (text: string) => ({
      ...upload(encode(text), MEDIA.text),
      read: async () => {
        await held;
        return encode(text);
      },
    });
    const first = parser.parse(slow("first"));
    const second = parser.parse(slow("second"));
    let read = false;
    const third = {
      ...upload(encode("third"), MEDIA.text),
      read: async () => {
        read = true;
        return encode("third");
      },
    };
    const refused = await failure(parser.parse(third));
    expect(refused).toMatchObject({ code: "OVERLOADED", status: 503 });
    expect(read).toBe(false);
    release();
    expect((await first).blocks).toEqual([{ text: "first" }]);
    expect((await second).blocks).toEqual([{ text: "second" }]);
    expect((await parser.parse(third)).blocks).toEqual([{ text: "third" }]);
    // A type that is not read is refused before the body too.
    read = false;
    expect((await failure(parser.parse({ ...third, contentType: "image/png" }))).code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(read).toBe(false);
  });
});
