import type { Heading, Root } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import { frontmatterFromMarkdown } from "mdast-util-frontmatter";
import { toString as textOf } from "mdast-util-to-string";
import { frontmatter } from "micromark-extension-frontmatter";
import { parse as parseYaml } from "yaml";
import type { LocatedBlock } from "../../../src/shared/origin-contract.ts";
import { AppError } from "../errors.ts";
import type { FormatParser } from "./port.ts";
import { decodeText, headingText } from "./text-content.ts";

/**
 * Markdown (CommonMark, by micromark/mdast, with YAML front matter): the source itself, cut at its
 * top-level headings (ATX `#` and setext), each piece under its heading path — the text stays
 * Markdown, as /v1/chunk has always indexed it. Front matter is not text; its `title` is the title,
 * else the first level-1 heading is. Text before the first heading has no section; a heading with
 * nothing under it gives no block of its own. Headings inside lists or quotes do not cut.
 *
 * Failures: bytes not valid in the charset → FILE_TYPE_MISMATCH; nothing but blanks → NO_TEXT.
 */
export function createMarkdownParser(): FormatParser {
  return {
    format: "markdown",
    async parse({ bytes, charset }) {
      const source = decodeText(bytes, charset);
      const tree = fromMarkdown(source, { extensions: [frontmatter(["yaml"])], mdastExtensions: [frontmatterFromMarkdown(["yaml"])] });
      const blocks = sectionsOf(source, tree);
      if (blocks.length === 0) throw new AppError("NO_TEXT", "The Markdown file has no text.");
      return { title: titleOf(tree), blocks };
    },
  };
}

function sectionsOf(source: string, tree: Root): LocatedBlock[] {
  const blocks: LocatedBlock[] = [];
  const path: { depth: number; text: string }[] = [];
  const first = tree.children[0];
  let start = first?.type === "yaml" ? first.position!.end.offset! : 0;
  let bodyStart = start; // where the text under the current heading begins
  const emit = (end: number) => {
    const text = source.slice(start, end).trim();
    if (!source.slice(bodyStart, end).trim()) return;
    blocks.push(path.length > 0 ? { text, section: path.map((h) => h.text) } : { text });
  };
  for (const node of tree.children) {
    if (node.type !== "heading") continue;
    const text = headingText(textOf(node));
    if (!text) continue;
    emit(node.position!.start.offset!);
    while (path.length > 0 && path.at(-1)!.depth >= node.depth) path.pop();
    path.push({ depth: node.depth, text });
    start = node.position!.start.offset!;
    bodyStart = node.position!.end.offset!;
  }
  emit(source.length);
  return blocks;
}

function titleOf(tree: Root): string | null {
  const first = tree.children[0];
  if (first?.type === "yaml") {
    try {
      const declared = (parseYaml(first.value) as { title?: unknown } | null)?.title;
      if (typeof declared === "string" && headingText(declared)) return headingText(declared);
    } catch {
      // Front matter that is not YAML holds no title; the document is still read.
    }
  }
  const heading = tree.children.find((node): node is Heading => node.type === "heading" && node.depth === 1);
  return (heading && headingText(textOf(heading))) || null;
}
