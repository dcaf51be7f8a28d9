/**
 * Where in its document a source came from, as people read it: "p. 3 · Installation › Upgrades" —
 * the PDF page, then the heading path (stored joined with " › ", sectionLabel in
 * src/ingest/layout.ts), each only where known; "" when neither is. The console's source list and
 * the MCP tools' text both show it. No imports: the console's bundle takes it as it is.
 */
export function locationOf(source: { page?: number | null; section?: string | null }): string {
  return [source.page == null ? "" : `p. ${source.page}`, source.section ?? ""].filter(Boolean).join(" · ");
}
