/**
 * How the clients (the CLI's `ingest`, the console's upload) turn files into documents, so both
 * read the same file the same way:
 * - a `.md`/`.txt` file is one document, its id taken from its name; a Markdown file's front
 *   matter is not indexed, and its title (front matter's `title:`, else its first `# heading`)
 *   becomes `metadata.title`, which keyword ranking weighs and sources are headed by;
 * - a `.jsonl` line is `{"id","text","metadata"}` or BEIR's `{"_id","title","text"}`.
 * Pure string work with no dependencies: it runs in Node and in the browser bundle.
 */

/** The API's limit on a metadata string, so a long heading is cut rather than refused. */
const MAX_TITLE_CHARS = 1024;

export interface SourceDocument {
  id: string;
  text: string;
  metadata?: Record<string, string | number | boolean>;
}

/** A file name or relative path as a document id: the characters ids allow, at most 128. */
export const sourceDocumentId = (name: string): string => name.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 128);

const isMarkdown = (name: string): boolean => /\.(md|markdown)$/i.test(name);

/** A YAML front matter block at the very start of a Markdown file: `---` lines around it (or `...` closing it). */
const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/;

/**
 * A Markdown file as text to index and a title. Front matter is not text to index (it is removed),
 * and its one-line `title:` is the title; else the first level-1 ATX heading outside code fences
 * is; "" when there is neither.
 */
export function readMarkdown(text: string): { title: string; text: string } {
  const frontMatter = FRONT_MATTER.exec(text);
  const body = frontMatter ? text.slice(frontMatter[0].length) : text;
  const declared = frontMatter?.[1]
    ?.split(/\r?\n/)
    .map((line) => unquote(/^title:(.*)$/.exec(line)?.[1] ?? ""))
    .find(Boolean);
  const title = declared || firstHeading(body);
  return { title: title.slice(0, MAX_TITLE_CHARS), text: body };
}

function firstHeading(markdown: string): string {
  let fence = "";
  for (const line of markdown.split(/\r?\n/)) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence ? "" : marker;
      continue;
    }
    if (fence) continue;
    // `# Title`, `# Title #`: a closing run of #s preceded by a space is not part of the title.
    const heading = /^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)?.[1]?.trim();
    if (heading) return heading;
  }
  return "";
}

/**
 * A `.md`/`.txt` file as one document (a Markdown file as `readMarkdown` reads it); `metadata`
 * (e.g. the CLI's `path`) is kept beside the title.
 */
export function fileDocument(name: string, text: string, metadata: Record<string, string> = {}): SourceDocument {
  const read = isMarkdown(name) ? readMarkdown(text) : { title: "", text };
  const all = { ...metadata, ...(read.title ? { title: read.title } : {}) };
  return { id: sourceDocumentId(name), text: read.text, ...(Object.keys(all).length > 0 ? { metadata: all } : {}) };
}

/** A `.jsonl` line's document; without an id, the API assigns one. */
type JsonLineDocument = Omit<SourceDocument, "id"> & { id?: string };

/**
 * One parsed `.jsonl` line as a document, or the reason it is not one. A BEIR line's title heads
 * its text and, when the line has no metadata of its own, becomes `metadata.title`.
 */
export function jsonLineDocument(record: Record<string, unknown>): JsonLineDocument | string {
  const rawId = record.id ?? record._id;
  const id = typeof rawId === "string" || typeof rawId === "number" ? String(rawId) : "";
  const title = typeof record.title === "string" ? record.title.trim() : "";
  const body = typeof record.text === "string" ? record.text : "";
  const text = title && !("id" in record) ? `${title}\n\n${body}` : body;
  if (!text.trim()) return 'needs a "text"';
  const metadata =
    typeof record.metadata === "object" && record.metadata !== null
      ? (record.metadata as SourceDocument["metadata"])
      : title
        ? { title: title.slice(0, MAX_TITLE_CHARS) }
        : undefined;
  return { ...(id ? { id } : {}), text, ...(metadata ? { metadata } : {}) };
}

const unquote = (value: string) => {
  const trimmed = value.trim();
  const quoted = /^(["'])(.*)\1$/.exec(trimmed);
  return (quoted ? (quoted[2] ?? "") : trimmed).trim();
};
