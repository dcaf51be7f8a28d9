import { tokenizers } from "@llamaindex/env/tokenizers";
import { describe, expect, it } from "vitest";
import { type LocatedBlock, textOfBlocks } from "../../src/shared/origin-contract.ts";
import { chunkDocuments, chunkText, SECTION_CHARS, sectionsOf } from "../src/chunking/sentence-chunker.ts";

const tokenCount = (text: string) => tokenizers.tokenizer().encode(text).length;

const english = Array.from(
  { length: 40 },
  (_, i) => `Sentence number ${i} talks about the Panthers defense and the ${i % 3 === 0 ? "Broncos" : "weather"}.`,
).join(" ");
const mixed = [
  "Ünïcödé façade — “curly quotes” and naïve café.",
  "Emoji need two UTF-16 units: 😀🎉👩‍💻 and flags 🇫🇷.",
  "日本語の文章です。これはテストです。中文句子也在这里。",
  "Arabic: مرحبا بالعالم. Hindi: नमस्ते दुनिया।",
]
  .join("\n\n")
  .repeat(12);

describe("chunking (LlamaIndex SentenceSplitter with offsets)", () => {
  for (const [name, source] of [
    ["English prose", english],
    ["non-ASCII, emoji and CJK", mixed],
    ["repeated text", "Same sentence again. ".repeat(200)],
  ] as const) {
    it(`happy: text === source.slice(start, end) for every chunk (${name})`, () => {
      const chunks = chunkText(source, { chunkSize: 48, chunkOverlap: 8 });
      expect(chunks.length).toBeGreaterThan(2);
      chunks.forEach((c, i) => {
        expect(c.index).toBe(i);
        expect(c.text).toBe(source.slice(c.start, c.end));
        expect(c.text.length).toBeGreaterThan(0);
        if (i > 0) expect(c.start).toBeGreaterThan(chunks[i - 1]!.start);
      });
      // Together the chunks cover the text: no gap between consecutive chunks except whitespace.
      for (let i = 1; i < chunks.length; i++) {
        expect(source.slice(chunks[i - 1]!.end, chunks[i]!.start).trim()).toBe("");
      }
    });
  }

  it("happy: chunks respect the token budget and overlap", () => {
    const chunks = chunkText(english, { chunkSize: 64, chunkOverlap: 16 });
    for (const c of chunks) expect(tokenCount(c.text)).toBeLessThanOrEqual(64);
    const overlapping = chunks.slice(1).filter((c, i) => c.start < chunks[i]!.end);
    expect(overlapping.length).toBeGreaterThan(0);
  });

  it("happy: a short text is one chunk spanning it (trimmed)", () => {
    const source = "  Just one sentence.  ";
    expect(chunkText(source, { chunkSize: 256, chunkOverlap: 32 })).toEqual([{ index: 0, text: "Just one sentence.", start: 2, end: 20 }]);
  });

  it("happy: a text longer than a section is chunked section by section, with the same guarantees", () => {
    const long = Array.from({ length: 20 }, (_, i) => `${english}\n\nParagraph ${i} ends here.`).join("\n\n");
    expect(long.length).toBeGreaterThan(4 * SECTION_CHARS);
    const chunks = chunkText(long, { chunkSize: 256, chunkOverlap: 32 });
    chunks.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(c.text).toBe(long.slice(c.start, c.end));
      expect(tokenCount(c.text)).toBeLessThanOrEqual(256);
      if (i > 0) expect(long.slice(chunks[i - 1]!.end, c.start).trim()).toBe("");
    });
    expect(chunks[0]!.start).toBe(0);
    expect(chunks.at(-1)!.end).toBe(long.length);
  });
});

describe("sections (what keeps chunking linear in the text's length)", () => {
  const covers = (text: string, max: number) => {
    const sections = sectionsOf(text, max);
    expect(sections[0]!.start).toBe(0);
    expect(sections.at(-1)!.end).toBe(text.length);
    sections.forEach((section, i) => {
      expect(section.end - section.start).toBeLessThanOrEqual(max);
      expect(section.end).toBeGreaterThan(section.start);
      if (i > 0) expect(section.start).toBe(sections[i - 1]!.end);
    });
    return sections.map((section) => text.slice(section.start, section.end));
  };

  it("happy: a text within the limit is one section", () => {
    expect(sectionsOf("Short.", 100)).toEqual([{ start: 0, end: 6 }]);
  });

  it("happy: cuts at a paragraph break, else a sentence end, else a space, within the second half", () => {
    const paragraphs = covers(`${"a ".repeat(35)}\n\n${"b ".repeat(35)}\n\n${"c ".repeat(20)}`, 100);
    expect(paragraphs[0]!.endsWith("\n\n")).toBe(true);
    const sentences = covers(`${"Word word word. ".repeat(20)}`, 100);
    for (const section of sentences.slice(0, -1)) expect(section.endsWith(".")).toBe(true);
    const words = covers("word ".repeat(60), 100);
    for (const section of words.slice(0, -1)) expect(section.endsWith(" ")).toBe(true);
  });

  it("error: a text without spaces is cut at the limit, never inside a surrogate pair", () => {
    const emoji = "😀".repeat(120); // 240 UTF-16 units, no break anywhere
    const sections = covers(emoji, 99);
    const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    for (const section of sections) expect(loneSurrogate.test(section)).toBe(false);
  });

  it("happy: chunkDocuments lets the event loop run between sections (a big upload never stalls probes for its whole length)", async () => {
    const long = Array.from({ length: 20 }, () => english).join("\n\n");
    const sections = sectionsOf(long, SECTION_CHARS).length;
    expect(sections).toBeGreaterThan(3);
    let ticks = 0;
    let done = false;
    const tick = () => {
      ticks += 1;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const [document] = await chunkDocuments([{ id: "long", text: long }], { chunkSize: 256, chunkOverlap: 32 });
    done = true;
    expect(document!.chunks.length).toBeGreaterThan(sections);
    expect(ticks).toBeGreaterThanOrEqual(sections - 1);
  });
});

describe("chunking located blocks (a parsed PDF's pages, an HTML page's sections)", () => {
  const options = { chunkSize: 48, chunkOverlap: 8 };
  const blocks: LocatedBlock[] = [
    { text: "Front matter before any heading." },
    { text: english.slice(0, 900), page: 1 },
    { text: "The zebra code is 4417. It is on page two.", page: 2 },
    { text: english.slice(0, 400), section: ["Installation"] },
    { text: "Upgrades need a restart.", section: ["Installation", "Upgrades"] },
    { text: "Back up first.", section: ["Installation", "Upgrades"] },
  ];

  it("happy: every chunk carries its block's location, lies within it, and has offsets in the joined text", async () => {
    const text = textOfBlocks(blocks);
    const [document] = await chunkDocuments([{ id: "located", blocks }], options);
    const chunks = document!.chunks;
    expect(chunks.length).toBeGreaterThan(blocks.length);
    let blockStart = 0;
    const spans = blocks.map((block) => {
      const span = { start: blockStart, end: blockStart + block.text.length, page: block.page, section: block.section };
      blockStart = span.end + 2;
      return span;
    });
    chunks.forEach((chunk, i) => {
      expect(chunk.index).toBe(i);
      expect(chunk.text).toBe(text.slice(chunk.start, chunk.end));
      // The blocks the chunk overlaps all share its location: it never spans two pages or sections.
      const touched = spans.filter((span) => chunk.start < span.end && chunk.end > span.start);
      expect(touched.length).toBeGreaterThan(0);
      for (const span of touched) {
        expect(chunk.page).toBe(span.page);
        expect(chunk.section).toEqual(span.section);
      }
    });
    expect(chunks.find((chunk) => chunk.text.includes("4417"))).toMatchObject({ page: 2 });
    expect(chunks.filter((chunk) => chunk.page === 1).length).toBeGreaterThan(1);
    // Consecutive blocks of the same section are chunked together: one chunk holds both short ones.
    expect(chunks.at(-1)).toEqual({
      index: chunks.length - 1,
      text: "Upgrades need a restart.\n\nBack up first.",
      start: text.indexOf("Upgrades need"),
      end: text.length,
      section: ["Installation", "Upgrades"],
    });
    // A block with no location gives chunks without the fields, as plain text does.
    expect(Object.keys(chunks[0]!).sort()).toEqual(["end", "index", "start", "text"]);
  });

  it("happy: a plain-text document's chunks keep today's shape (no page, no section)", async () => {
    const [document] = await chunkDocuments([{ id: "plain", text: english }], options);
    for (const chunk of document!.chunks) expect(Object.keys(chunk).sort()).toEqual(["end", "index", "start", "text"]);
    expect(document!.chunks).toEqual(chunkText(english, options));
  });
});
