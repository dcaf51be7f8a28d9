/**
 * Chunking time against document length: the origin's chunker (sections of SECTION_CHARS, each
 * split by SentenceSplitter) beside one SentenceSplitter call over the whole text, the way every
 * document was chunked before, whose sentence tokenizer is quadratic in the text it is handed.
 * The text is XQuAD's English paragraphs, joined with blank lines, cut to each length. The baseline
 * stops at 200k characters (it takes minutes beyond). Run: npm --prefix container run bench:chunking
 */
import { SentenceSplitter } from "@llamaindex/core/node-parser";
import { chunkText, SECTION_CHARS } from "../src/chunking/sentence-chunker.ts";
import { fmt, loadParagraphs } from "./lib.ts";

const LENGTHS = [10_000, 50_000, 100_000, 200_000, 1_000_000];
const BASELINE_MAX = 200_000;
const options = { chunkSize: 256, chunkOverlap: 32 };

const corpus = loadParagraphs().join("\n\n");
const timed = (run: () => number) => {
  const started = performance.now();
  const chunks = run();
  return { ms: performance.now() - started, chunks };
};

// One run of each first, so that neither pays for loading and compiling the tokenizer in the table.
chunkText(corpus.slice(0, 20_000), options);
new SentenceSplitter(options).splitText(corpus.slice(0, 20_000));

console.log(`SECTION_CHARS ${SECTION_CHARS}; chunk_size ${options.chunkSize}, overlap ${options.chunkOverlap}`);
console.log("   chars    sections ms  chunks   whole-text ms  chunks   whole ÷ sections");
for (const length of LENGTHS) {
  const text = corpus.repeat(Math.ceil(length / corpus.length)).slice(0, length);
  const ours = timed(() => chunkText(text, options).length);
  const line = `${String(length).padStart(8)} ${fmt(ours.ms, 0)}    ${String(ours.chunks).padStart(6)}`;
  if (length > BASELINE_MAX) {
    console.log(`${line}   (not run: minutes)`);
    continue;
  }
  const whole = timed(() => new SentenceSplitter(options).splitText(text).length);
  console.log(`${line}   ${fmt(whole.ms, 0)}       ${String(whole.chunks).padStart(6)}   ${fmt(whole.ms / ours.ms, 1)}×`);
}
