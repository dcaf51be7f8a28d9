import MarkdownIt, { type Token } from "markdown-it";
import frontMatter from "markdown-it-front-matter";
import { parse as parseYaml } from "yaml";
import { type LocatedBlock, MAX_DOCUMENT_CHARS } from "../../../src/shared/origin-contract.ts";
import { AppError } from "../errors.ts";
import type { FormatParser } from "./port.ts";
import { decodeText, headingText } from "./text-content.ts";

/**
 * The source a Markdown file may have: its text is kept as it is, so a longer one cannot fit a
 * document (MAX_DOCUMENT_CHARS), with room for front matter. Refused before parsing: markdown-it
 * takes about a second per megabyte of dense Markdown here, with the event loop held.
 */
const MAX_SOURCE_CHARS = MAX_DOCUMENT_CHARS + 64 * 1024;

/**
 * Markdown (CommonMark, by markdown-it, with front matter): the source itself, cut at its
 * top-level headings (ATX `#` and setext), each piece under its heading path — the text stays
 * Markdown, as /v1/chunk has always indexed it. Front matter is not text; its YAML `title` is the
 * title, else the first level-1 heading is. Text before the first heading has no section; a
 * heading with nothing under it gives no block of its own. Headings inside lists or quotes do not cut.
 * (micromark, the other well-kept parser, took 20 s for 1 MB of dense Markdown here; markdown-it 2 s.)
 *
 * Failures: bytes not valid in the charset → FILE_TYPE_MISMATCH; a source over MAX_SOURCE_CHARS →
 * DOCUMENT_TOO_LONG; nothing but blanks → NO_TEXT.
 */
export function createMarkdownParser(): FormatParser {
  const markdown = new MarkdownIt("commonmark").use(frontMatter, () => {});
  return {
    format: "markdown",
    async parse({ bytes, charset }) {
      // markdown-it counts lines in this form of the text (its own normalisation), and so do the cuts.
      const source = decodeText(bytes, charset).replace(/\r\n?/g, "\n");
      if (source.length > MAX_SOURCE_CHARS) {
        throw new AppError("DOCUMENT_TOO_LONG", `The Markdown file is ${source.length} characters; at most ${MAX_SOURCE_CHARS} are read.`);
      }
      const tokens = markdown.parse(source, {});
      const blocks = sectionsOf(source, tokens);
      if (blocks.length === 0) throw new AppError("NO_TEXT", "The Markdown file has no text.");
      return { title: titleOf(tokens), blocks };
    },
  };
}

function sectionsOf(source: string, tokens: Token[]): LocatedBlock[] {
  const lineStarts = [0];
  for (let at = source.indexOf("\n"); at >= 0; at = source.indexOf("\n", at + 1)) lineStarts.push(at + 1);
  const offsetOf = (line: number) => lineStarts[line] ?? source.length;

  const blocks: LocatedBlock[] = [];
  const path: { depth: number; text: string }[] = [];
  const first = tokens[0];
  let start = first?.type === "front_matter" ? offsetOf(first.map![1]) : 0;
  let bodyStart = start; // where the text under the current heading begins
  const emit = (end: number) => {
    if (!source.slice(bodyStart, end).trim()) return;
    const text = source.slice(start, end).trim();
    blocks.push(path.length > 0 ? { text, section: path.map((h) => h.text) } : { text });
  };
  tokens.forEach((token, i) => {
    if (token.type !== "heading_open" || token.level !== 0) return;
    const text = headingText(inlineText(tokens[i + 1]));
    if (!text) return;
    const depth = Number(token.tag.slice(1));
    emit(offsetOf(token.map![0]));
    while (path.length > 0 && path.at(-1)!.depth >= depth) path.pop();
    path.push({ depth, text });
    start = offsetOf(token.map![0]);
    bodyStart = offsetOf(token.map![1]);
  });
  emit(source.length);
  return blocks;
}

/** A heading's words without their markup: its text and code spans, line breaks as spaces. */
function inlineText(inline: Token | undefined): string {
  return (inline?.children ?? [])
    .map((child) => (child.type === "text" || child.type === "code_inline" ? child.content : child.type.endsWith("break") ? " " : ""))
    .join("");
}

function titleOf(tokens: Token[]): string | null {
  const first = tokens[0];
  if (first?.type === "front_matter") {
    try {
      const declared = (parseYaml(String(first.meta)) as { title?: unknown } | null)?.title;
      if (typeof declared === "string" && headingText(declared)) return headingText(declared);
    } catch {
      // Front matter that is not YAML holds no title; the document is still read.
    }
  }
  const at = tokens.findIndex((token) => token.type === "heading_open" && token.tag === "h1");
  return (at >= 0 && headingText(inlineText(tokens[at + 1]))) || null;
}
