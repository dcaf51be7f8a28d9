import { sha256Hex } from "../auth/api-keys";
import type { DocumentMetadata } from "./document-input";

/**
 * The content hash of a document: SHA-256 over its collection, text and metadata (keys sorted, so
 * the order a client sends them in does not matter), and the layout of a document made from a file
 * (its chunks' locations depend on it). Equal hash = nothing to re-embed.
 */
export function contentHash(collection: string, text: string, metadata: DocumentMetadata, layout?: string | null): Promise<string> {
  const entries = Object.keys(metadata)
    .sort()
    .map((key) => [key, metadata[key]]);
  // Without a layout, the hash every text document has always had.
  return sha256Hex(JSON.stringify(layout ? [collection, text, entries, layout] : [collection, text, entries]));
}

/**
 * The id of a chunk, in D1 and in the vector index (shared with the query side): `c_` + the first
 * 40 hex characters of SHA-256(tenant \0 document id \0 content hash \0 revision \0 chunk index).
 *
 * `revision` is the document version's random id (documents.revision), new whenever the content
 * changes and never repeated — not when the content goes A → B → A, not when the document is
 * deleted and sent again. That is what makes the purge safe: once a version's ids are recorded
 * in vector_deletions (its chunks were replaced, or its commit lost the race with a newer
 * version), a purge may delete them from the vector index at any moment, before or after any
 * upsert; with ids a content hash alone decided, a returning A would upsert and commit exactly
 * those ids and a late purge would delete its vectors from under its chunks. With the revision no
 * later version can own them, and the indexing commit is guarded by the revision too, so even the
 * work of that same version can no longer commit them. Retries of one version keep their ids (the
 * revision is read from D1), so a retry overwrites its own vectors instead of orphaning them.
 */
export async function chunkId(
  tenant: string,
  documentId: string,
  version: { contentHash: string; revision: string },
  index: number,
): Promise<string> {
  return `c_${(await sha256Hex(`${tenant}\0${documentId}\0${version.contentHash}\0${version.revision}\0${index}`)).slice(0, 40)}`;
}
