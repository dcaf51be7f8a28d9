import type { LocatedBlock } from "../../../src/shared/origin-contract.ts";
import { headingText, tidyLines } from "./text-content.ts";

/**
 * An HTML fragment's text as blocks under their heading paths: what the HTML parser (after
 * Readability kept the main content) and the DOCX parser (after mammoth turned it into HTML) share.
 * A heading (h1–h6) starts a block, whose text begins with the heading; its section is the path of
 * headings above it and itself (a deeper heading nests, a heading of the same or a higher level
 * replaces). Text before the first heading is a block without a section; a heading with nothing
 * under it before the next one gives no block of its own (it still heads the deeper ones' paths).
 *
 * Block elements break paragraphs (blank lines), `<br>` breaks lines, `<pre>` keeps its
 * whitespace; scripts, styles and embedded objects are not text. The walk is iterative, so that
 * however deep the markup nests, it cannot overflow the stack.
 *
 * A heading's level is its tag's, unless it carries HEADING_LEVEL_ATTRIBUTE: the level it had
 * before a tool rewrote it (Readability turns every h1 into an h2).
 */
export function blocksOfHtml(root: Node): LocatedBlock[] {
  const blocks: LocatedBlock[] = [];
  const path: { level: number; text: string }[] = [];
  let paragraphs: string[] = [];
  let hasBody = false;
  let line = "";

  const endParagraph = () => {
    const text = tidyLines(line);
    if (text) {
      paragraphs.push(text);
      hasBody = true;
    }
    line = "";
  };
  const endBlock = () => {
    endParagraph();
    if (hasBody)
      blocks.push(
        path.length > 0 ? { text: paragraphs.join("\n\n"), section: path.map((h) => h.text) } : { text: paragraphs.join("\n\n") },
      );
    paragraphs = [];
    hasBody = false;
  };

  // Depth-first, in document order: an element is visited, then its children, then "exit" marks its end.
  const stack: Array<Node | { exit: Element }> = [root];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if ("exit" in next) {
      if (BLOCK_TAGS.has(next.exit.localName)) endParagraph();
      continue;
    }
    if (next.nodeType === TEXT_NODE) {
      // Markup's own line breaks and indentation are spaces, as a browser renders them.
      line += (next.textContent ?? "").replace(/[ \t\n\r\f]+/g, " ");
      continue;
    }
    if (next.nodeType !== ELEMENT_NODE && next.nodeType !== DOCUMENT_NODE && next.nodeType !== FRAGMENT_NODE) continue;
    const element = next as Element;
    const tag = element.localName ?? "";
    if (SKIPPED_TAGS.has(tag)) continue;
    const tagLevel = HEADING_LEVELS[tag];
    if (tagLevel !== undefined) {
      const level = HEADING_LEVELS[`h${element.getAttribute(HEADING_LEVEL_ATTRIBUTE)}`] ?? tagLevel;
      const text = headingText(element.textContent ?? "");
      if (!text) continue;
      endBlock();
      while (path.length > 0 && path.at(-1)!.level >= level) path.pop();
      path.push({ level, text });
      paragraphs.push(text);
      continue;
    }
    if (tag === "br") {
      line += "\n";
      continue;
    }
    if (tag === "pre") {
      endParagraph();
      const code = (element.textContent ?? "").replace(/^\n+|\s+$/g, "");
      if (code) {
        paragraphs.push(code);
        hasBody = true;
      }
      continue;
    }
    if (BLOCK_TAGS.has(tag)) {
      endParagraph();
      stack.push({ exit: element });
    } else if (tag === "td" || tag === "th") {
      line += " ";
    }
    const children = element.childNodes;
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  endBlock();
  return blocks;
}

export const HEADING_LEVEL_ATTRIBUTE = "data-heading-level";

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const DOCUMENT_NODE = 9;
const FRAGMENT_NODE = 11;

const HEADING_LEVELS: Record<string, number> = { h1: 1, h2: 2, h3: 3, h4: 4, h5: 5, h6: 6 };

const SKIPPED_TAGS = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "head",
  "svg",
  "math",
  "img",
  "iframe",
  "object",
  "embed",
  "video",
  "audio",
  "canvas",
  "button",
  "select",
  "input",
  "textarea",
]);

/** Elements that stand on their own lines (the HTML block-level and list/table structure elements). */
const BLOCK_TAGS = new Set([
  "address",
  "article",
  "aside",
  "blockquote",
  "body",
  "caption",
  "dd",
  "details",
  "dialog",
  "div",
  "dl",
  "dt",
  "fieldset",
  "figcaption",
  "figure",
  "footer",
  "form",
  "header",
  "hgroup",
  "hr",
  "html",
  "li",
  "main",
  "nav",
  "ol",
  "p",
  "section",
  "summary",
  "table",
  "tbody",
  "tfoot",
  "thead",
  "tr",
  "ul",
]);
