import { tokenizers } from "@llamaindex/env/tokenizers";
import { describe, expect, it } from "vitest";
import { chunkText } from "../src/chunking/sentence-chunker.ts";

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
});
