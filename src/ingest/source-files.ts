/**
 * How the clients (the CLI's `ingest`, the console's upload) turn files into documents, so both
 * read the same file the same way:
 * - a `.md`/`.txt` file is one document, its id taken from its name, and a Markdown file's title
 *   (front matter's `title:`, else its first `# heading`) becomes `metadata.title`, which keyword
 *   ranking weighs and sources are headed by;
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
export const documentIdOf = (name: string): string => name.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 128);

export const isMarkdown = (name: string): boolean => /\.(md|markdown)$/i.test(name);

/**
 * A Markdown text's title: front matter's one-line `title:` when the text opens with `---`, else
 * its first level-1 ATX heading outside code fences; "" when it has neither.
 */
export function markdownTitle(text: string): string {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let start = 0;
  if (lines[0]?.trim() === "---") {
    const end = lines.findIndex((line, index) => index > 0 && /^(---|\.\.\.)\s*$/.test(line));
    if (end > 0) {
      for (const line of lines.slice(1, end)) {
        const match = /^title:\s*(.*?)\s*$/.exec(line);
        const title = match ? unquote(match[1] ?? "") : "";
        if (title) return clip(title);
      }
      start = end + 1;
    }
  }
  let fence = "";
  for (const line of lines.slice(start)) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence ? "" : marker;
      continue;
    }
    if (fence) continue;
    // `# Title`, `# Title #`: a closing run of #s preceded by a space is not part of the title.
    const heading = /^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)?.[1]?.trim();
    if (heading) return clip(heading);
  }
  return "";
}

/** A `.md`/`.txt` file as one document; `metadata` (e.g. the CLI's `path`) is kept beside the title. */
export function fileDocument(
  name: string,
  text: string,
  metadata: Record<string, string> = {},
  id: string = documentIdOf(name),
): SourceDocument {
  const title = isMarkdown(name) ? markdownTitle(text) : "";
  const all = { ...metadata, ...(title ? { title } : {}) };
  return { id, text, ...(Object.keys(all).length > 0 ? { metadata: all } : {}) };
}

/** A `.jsonl` line's document; without an id, the API assigns one. */
export type JsonLineDocument = Omit<SourceDocument, "id"> & { id?: string };

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
        ? { title: clip(title) }
        : undefined;
  return { ...(id ? { id } : {}), text, ...(metadata ? { metadata } : {}) };
}

const clip = (title: string) => title.slice(0, MAX_TITLE_CHARS);

const unquote = (value: string) => {
  const quoted = /^(["'])(.*)\1$/.exec(value);
  return (quoted ? (quoted[2] ?? "") : value).trim();
};
