import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import { type DefaultTreeAdapterMap, parse, serialize } from "parse5";
import { AppError } from "../errors.ts";
import { blocksOfHtml, HEADING_LEVEL_ATTRIBUTE } from "./outline.ts";
import type { FormatParser } from "./port.ts";
import { decodeText, headingText } from "./text-content.ts";

/**
 * Readability's work grows faster than a page's size, and much faster than its depth (measured
 * here: 2,000 nested elements took 1.6 s, 20,000 took two minutes). A long real page has a few
 * thousand elements nested a few dozen deep; a page past either limit is refused, not parsed for minutes.
 */
const MAX_ELEMENTS = 100_000;
const MAX_DEPTH = 256;

/**
 * HTML: the page's main content and title, as Firefox's Reader View finds them (Mozilla's
 * Readability on a linkedom DOM): navigation, headers, footers, sidebars and other boilerplate are
 * dropped; the headings it keeps become the sections (outline.ts), at the levels they had (Readability
 * turns h1s into h2s). Readability drops a heading that repeats the page's title, so that title
 * heads no section path.
 *
 * The page is first parsed by parse5 (the WHATWG parser jsdom uses), which builds the tree a
 * browser would (implied <html>, <head> and <body>, misnested tags), and linkedom reads parse5's
 * serialization: linkedom alone takes a page that leaves out <html> or <body> apart.
 *
 * Failures: bytes not valid in the charset → FILE_TYPE_MISMATCH; more elements or deeper nesting
 * than the limits → DOCUMENT_TOO_LONG; no text in the main content → NO_TEXT.
 */
export function createHtmlParser(): FormatParser {
  return {
    format: "html",
    async parse({ bytes, charset }) {
      const tree = parse(decodeText(bytes, charset));
      checkShape(tree);
      const { document } = parseHTML(serialize(tree));
      // Readability turns h1s into h2s: each heading keeps its level in an attribute it leaves alone.
      for (const heading of document.querySelectorAll("h1, h2, h3, h4, h5, h6"))
        heading.setAttribute(HEADING_LEVEL_ATTRIBUTE, heading.localName.slice(1));
      const article = new Readability<Node>(document as unknown as Document, { serializer: (node) => node }).parse();
      const blocks = article?.content ? blocksOfHtml(article.content) : [];
      if (blocks.length === 0) throw new AppError("NO_TEXT", "The page has no text in its main content.");
      return { title: headingText(article?.title ?? "") || null, blocks };
    },
  };
}

type TreeNode = DefaultTreeAdapterMap["parentNode"] | DefaultTreeAdapterMap["childNode"];

/** Counts the elements and their depth without recursion (a deep page must not overflow the stack here either). */
function checkShape(tree: DefaultTreeAdapterMap["document"]): void {
  let elements = 0;
  const stack: Array<[TreeNode, number]> = [[tree, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_DEPTH) throw new AppError("DOCUMENT_TOO_LONG", `The page nests elements more than ${MAX_DEPTH} deep.`);
    if ("tagName" in node && ++elements > MAX_ELEMENTS) {
      throw new AppError("DOCUMENT_TOO_LONG", `The page has more than ${MAX_ELEMENTS} elements.`);
    }
    if ("childNodes" in node) for (const child of node.childNodes) stack.push([child, depth + 1]);
  }
}
