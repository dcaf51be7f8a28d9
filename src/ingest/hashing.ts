import { sha256Hex } from "../auth/api-keys";
import type { DocumentMetadata } from "./document-input";

/**
 * The content hash of a document: SHA-256 over its collection, text and metadata (keys sorted, so
 * the order a client sends them in does not matter). Equal hash = nothing to re-embed.
 */
export function contentHash(collection: string, text: string, metadata: DocumentMetadata): Promise<string> {
  const entries = Object.keys(metadata)
    .sort()
    .map((key) => [key, metadata[key]]);
  return sha256Hex(JSON.stringify([collection, text, entries]));
}

/**
 * The id of a chunk, in D1 and in the vector index (shared with the query side): `c_` + the first
 * 40 hex characters of SHA-256(tenant \0 document id \0 content hash \0 chunk index). It changes
 * whenever the content does, so a replaced document never overwrites its old vectors in place.
 */
export async function chunkId(tenant: string, documentId: string, hash: string, index: number): Promise<string> {
  return `c_${(await sha256Hex(`${tenant}\0${documentId}\0${hash}\0${index}`)).slice(0, 40)}`;
}
