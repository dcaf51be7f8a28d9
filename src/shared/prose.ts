/**
 * Markdown (or plain text) as the prose an extractive answer may quote: paragraphs and list items,
 * each a block of its own, with inline syntax reduced to its text. Tables, fenced and indented
 * code, headings, rules, link definitions and HTML-only lines are not sentences and are dropped.
 * Line-based, so a chunk cut out of the middle of a document (a table's last rows, a list's tail)
 * is handled as well as a whole one. Pure, linear in the text's length.
 *
 * Used by the one extractive answer (src/shared/extractive-answer.ts), which the origin's offline
 * generator and the worker's degraded answer share.
 */
export function proseBlocks(text: string): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  const flush = () => {
    const block = inlineText(current.join(" "));
    if (/[\p{L}\p{N}]/u.test(block)) blocks.push(block);
    current = [];
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const fenceMark = /^(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== null) {
      // Inside a code block until a fence of the same kind closes it.
      if (fenceMark && fenceMark[0] === fence[0] && fenceMark.length >= fence.length) fence = null;
      continue;
    }
    if (fenceMark) {
      flush();
      fence = fenceMark;
      continue;
    }
    if (line === "") {
      flush();
      continue;
    }
    // Setext heading underline: the lines above it were a heading.
    if (/^=+$/.test(line) || (/^-+$/.test(line) && current.length > 0)) {
      current = [];
      continue;
    }
    if (
      /^#{1,6}(\s|$)/.test(line) || // ATX heading
      /^([-*_]\s*){3,}$/.test(line) || // thematic break
      line.startsWith("|") || // table row or delimiter row
      /^:?-{3,}:?(\s*\|\s*:?-{3,}:?)+\s*\|?$/.test(line) || // delimiter row without outer pipes
      /^\[[^\]]+\]:\s*\S/.test(line) || // link reference definition
      /^<\/?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?\/?>$/.test(line) || // HTML-only line
      (current.length === 0 && /^( {4,}|\t)/.test(raw)) // indented code
    ) {
      flush();
      continue;
    }
    const quoted = line.replace(/^(>\s?)+/, "");
    // 1-3 digits: "2001. Comparison of…" starts a sentence, not a list.
    const item = /^(?:[-*+]|\d{1,3}[.)])\s+(.*)$/.exec(quoted);
    if (item) {
      // A list item is a block of its own (its text rarely ends with a full stop).
      flush();
      current.push(item[1]!);
    } else {
      current.push(quoted);
    }
  }
  flush();
  return blocks;
}

/** Inline markdown reduced to its text: links and code keep their text, emphasis loses its marks. */
function inlineText(text: string): string {
  // Code spans first, kept verbatim (`<id>` in code is text, not HTML); the markup rules apply around them.
  return text
    .split(/(`+)([^`]*?)\1/)
    .map((part, i) => (i % 3 === 2 ? part : i % 3 === 1 ? "" : inlineMarkup(part)))
    .join("")
    .replace(/\s+/g, " ")
    .trim();
}

function inlineMarkup(text: string): string {
  return (
    text
      .replace(/!\[[^\]]*\]\([^)]*\)/g, "") // images are not text
      // [text](target): a target is a URL or a path (a letter and one of . / # :, no space), so that
      // "[Ca(2+)](i)" or "[GHS-R](-/-)" in a scientific text stay as they are.
      .replace(/\[([^\]]+)\]\((?=[^\s()]*[A-Za-z])(?=[^\s()]*[./#:])[^\s()]+\)/g, "$1")
      .replace(/\[([^\]]+)\]\[[\w -]*\]/g, "$1") // [text][ref]
      .replace(/<((?:https?|mailto):[^>\s]+)>/g, "$1") // <https://…>
      .replace(/<\/?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?\/?>/g, "") // inline HTML ("<or=3 mg/l" is not a tag)
      // *emphasis*, **strong**, _emphasis_: marks that open after a space or an opening bracket and
      // close before one or punctuation, so that snake_case, 2 * 3 and LaTeX subscripts stay.
      .replace(/(^|[\s("'“‘[])([*_]{1,2})(?=\S)([^*_]+?)(?<=\S)\2(?=$|[\s.,;:!?)"'’”\]])/gu, "$1$3")
  );
}

/**
 * A sentence as an extractive answer may quote it: a document cannot forge citations (its own "[n]"
 * markers are dropped, so every [n] in the answer is the generator's) nor plant images (a markdown
 * or HTML image would make a rendering client fetch a URL of the writer's choosing).
 */
export function quotable(text: string): string {
  return text
    .replace(/!\[[^\]]*\]\([^)]*\)/g, "")
    .replace(/<img\b[^>]*>/gi, "")
    .replace(/\[\s*\d+(?:\s*,\s*\d+)*\s*\]/g, "")
    .replace(/\s{2,}/g, " ")
    .trim();
}
