import { DEFAULT_COLLECTION, type DocumentInput, type DocumentMetadata } from "./document-input";
import { contentHash } from "./hashing";

/**
 * Documents as the tenant's object (src/tenant/tenant-data.ts) stores them, and what the worker
 * settles before it hands them over: each document's id (generated when absent) and content hash.
 *
 * A document row holds two versions: the accepted one (text, collection, accepted_metadata,
 * content_hash, revision), which the indexer embeds, and the indexed one (indexed_hash, `metadata`,
 * and the chunks with their own text and collection), which queries see. Recording a new version
 * changes only the first; the indexer's commit makes it the second.
 */

/** A document as accepted by the worker: validated, its id and content hash settled. */
export interface AcceptedDocument {
  id: string;
  collection: string;
  text: string;
  metadata: DocumentMetadata;
  hash: string;
  /** A document made from a file: its blocks' locations (layout.ts) and its original's key in the files bucket. */
  layout?: string | null;
  fileKey?: string | null;
}

export interface StoredDocument {
  id: string;
  collection: string;
  text: string;
  metadata: DocumentMetadata;
  content_hash: string;
  indexed_hash: string | null;
  status: "queued" | "indexed" | "failed";
  chunk_count: number;
  job_id: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

/** A document as a page of the list shows it: without its text and hashes. */
export type DocumentSummary = Omit<StoredDocument, "text" | "content_hash" | "indexed_hash">;

/** Settles each document's id (generated when absent) and content hash. */
export function acceptDocuments(inputs: DocumentInput[], collection = DEFAULT_COLLECTION): Promise<AcceptedDocument[]> {
  return Promise.all(
    inputs.map(async (input) => {
      const metadata = input.metadata ?? {};
      return {
        id: input.id ?? crypto.randomUUID(),
        collection,
        text: input.text,
        metadata,
        hash: await contentHash(collection, input.text, metadata),
      };
    }),
  );
}

// Each changed document gets a fresh revision (128 random bits: it never repeats, see chunkId).
const newRevision = () => crypto.randomUUID().replaceAll("-", "");

/**
 * An accepted document's row values, in the order the store inserts them: id, collection, text,
 * accepted metadata, content hash, a fresh revision, layout, file key.
 */
export const acceptedRow = (document: AcceptedDocument) =>
  [
    document.id,
    document.collection,
    document.text,
    JSON.stringify(document.metadata),
    document.hash,
    newRevision(),
    document.layout ?? null,
    document.fileKey ?? null,
  ] as const;
