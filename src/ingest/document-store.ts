import { errorFields, log } from "../logger";
import { dropKeywordIndexIfUnused } from "../retrieval/keyword-index";
import { bumpIndexVersionStatement } from "../store/tenant-store";
import { createD1Batch } from "./d1-batch";
import { DEFAULT_COLLECTION, type DocumentInput, type DocumentMetadata } from "./document-input";
import { contentHash } from "./hashing";
import { packInOrder } from "./packing";

/**
 * Documents and jobs in D1, the source of truth: every statement filters on the tenant, so one
 * tenant can never read, change or count another's rows (the same document id in two tenants is
 * two documents). Failures are D1's own errors; callers answer 503 or retry the message.
 *
 * A document row holds two versions (migrations/0004, 0005): the accepted one (text, collection,
 * accepted_metadata, content_hash, revision), which the indexer embeds, and the indexed one
 * (indexed_hash, `metadata`, and the chunks with their own text and collection), which queries
 * see. Recording a new version changes only the first; the indexer's commit makes it the second.
 */

/** A document as accepted: validated, with its id and content hash settled. */
export interface PreparedDocument {
  id: string;
  collection: string;
  text: string;
  metadata: DocumentMetadata;
  hash: string;
  /** True when this exact content is already indexed: nothing to re-embed. */
  unchanged: boolean;
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

/**
 * D1 holds at most 2,000,000 bytes per string, bound parameters included. Rows are sent as JSON
 * arrays read with json_each (one statement per group instead of one per row); a group stays
 * well under that size, and a row that alone exceeds it is bound column by column.
 */
export const MAX_JSON_PARAM_BYTES = 1_500_000;

const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/** Groups JSON-serialisable rows so that each group's JSON array stays under `maxBytes`. */
export function groupRowsForJson<T>(rows: T[], maxBytes = MAX_JSON_PARAM_BYTES): { groups: T[][]; oversized: T[] } {
  // A row costs its JSON and a comma; the array its brackets.
  return packInOrder(rows, (row) => utf8Bytes(JSON.stringify(row)) + 1, { maxBytes, groupOverheadBytes: 2 });
}

/** Settles ids (generated when absent) and content hashes, and marks the documents already indexed as they are. */
export async function prepareDocuments(
  db: D1Database,
  tenant: string,
  inputs: DocumentInput[],
  collection = DEFAULT_COLLECTION,
): Promise<PreparedDocument[]> {
  const drafts = await Promise.all(
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
  const { results } = await db
    .prepare(
      `SELECT id, content_hash, indexed_hash FROM documents
       WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?2))`,
    )
    .bind(tenant, JSON.stringify(drafts.map((draft) => draft.id)))
    .all<{ id: string; content_hash: string; indexed_hash: string | null }>();
  const existing = new Map(results.map((row) => [row.id, row]));
  return drafts.map((draft) => {
    const row = existing.get(draft.id);
    // Unchanged only when no other version is pending either: then a re-send is a pure no-op.
    return { ...draft, unchanged: row !== undefined && row.content_hash === draft.hash && row.indexed_hash === draft.hash };
  });
}

/**
 * Statements that record the changed documents (status `queued`, their previous chunks stay
 * searchable until the new ones replace them) and, when `job` is given, the job and its
 * per-document rows. Run them in one D1 batch: all or nothing.
 */
export function recordDocumentsStatements(
  db: D1Database,
  tenant: string,
  documents: PreparedDocument[],
  now: number,
  job?: { id: string },
): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  const jobId = job?.id ?? null;
  if (job) {
    const pending = documents.some((document) => !document.unchanged);
    statements.push(
      db
        .prepare(
          `INSERT INTO jobs (id, tenant, status, documents, created_at, updated_at, finished_at, enqueued_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6)`,
        )
        // A job with nothing to index is finished (and has nothing to enqueue) at birth.
        .bind(job.id, tenant, pending ? "queued" : "done", documents.length, now, pending ? null : now),
    );
  }

  // Each changed document gets a fresh revision (128 random bits: it never repeats, see chunkId);
  // the same content sent again while pending keeps its revision, and its work in flight with it.
  // `metadata` (the indexed version's) is left alone: the indexer's commit replaces it.
  const changed = documents.filter((document) => !document.unchanged);
  const rows = changed.map(acceptedRow);
  const { groups, oversized } = groupRowsForJson(rows);
  const upsert = `ON CONFLICT (tenant, id) DO UPDATE SET
       collection = excluded.collection, text = excluded.text, accepted_metadata = excluded.accepted_metadata,
       revision = CASE WHEN documents.content_hash = excluded.content_hash THEN documents.revision ELSE excluded.revision END,
       content_hash = excluded.content_hash, status = 'queued', job_id = excluded.job_id,
       error = NULL, updated_at = excluded.updated_at`;
  for (const group of groups) {
    statements.push(
      db
        .prepare(
          `INSERT INTO documents (tenant, id, collection, text, accepted_metadata, content_hash, revision, status, job_id, created_at, updated_at)
           SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                  json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), 'queued', ?2, ?3, ?3
           FROM json_each(?4) WHERE true
           ${upsert}`,
        )
        .bind(tenant, jobId, now, JSON.stringify(group)),
    );
  }
  for (const [id, collection, text, metadata, hash, revision] of oversized) {
    statements.push(
      db
        .prepare(
          `INSERT INTO documents (tenant, id, collection, text, accepted_metadata, content_hash, revision, status, job_id, created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?9)
           ${upsert}`,
        )
        .bind(tenant, id, collection, text, metadata, hash, revision, jobId, now),
    );
  }

  if (job) {
    const jobRows = documents.map((document) => [document.id, document.unchanged ? "skipped" : "queued", document.hash]);
    for (const group of groupRowsForJson(jobRows).groups) {
      statements.push(
        db
          .prepare(
            `INSERT INTO job_documents (job_id, tenant, document_id, status, content_hash, updated_at)
             SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ?3
             FROM json_each(?4)`,
          )
          .bind(job.id, tenant, now, JSON.stringify(group)),
      );
    }
  }
  return statements;
}

const newRevision = () => crypto.randomUUID().replaceAll("-", "");

/** An accepted document's row values, in the order both stores insert them: id, collection, text, accepted metadata, content hash, a fresh revision. */
export const acceptedRow = (document: { id: string; collection: string; text: string; metadata: unknown; hash: string }) =>
  [document.id, document.collection, document.text, JSON.stringify(document.metadata), document.hash, newRevision()] as const;

interface DocumentRow extends Omit<StoredDocument, "metadata"> {
  metadata: string;
}

/** The document as last accepted (its metadata included), with the state of its indexing. */
export async function getDocument(db: D1Database, tenant: string, id: string): Promise<StoredDocument | null> {
  const row = await db
    .prepare(
      `SELECT id, collection, text, accepted_metadata AS metadata, content_hash, indexed_hash, status, chunk_count, job_id, error, created_at, updated_at
       FROM documents WHERE tenant = ?1 AND id = ?2`,
    )
    .bind(tenant, id)
    .first<DocumentRow>();
  return row ? { ...row, metadata: JSON.parse(row.metadata) as DocumentMetadata } : null;
}

/** One page of a tenant's documents, in id order, without their text. */
export interface DocumentPage {
  documents: Array<Omit<StoredDocument, "text" | "content_hash" | "indexed_hash">>;
  /** The id to continue after, or null on the last page. */
  nextAfter: string | null;
}

/**
 * Lists documents by keyset pagination on the primary key (tenant, id): a page costs one index
 * range scan however deep it is, and documents written while a client pages never shift the pages.
 */
export async function listDocuments(
  db: D1Database,
  tenant: string,
  options: { collection?: string; status?: StoredDocument["status"]; after?: string; limit: number },
): Promise<DocumentPage> {
  const { results } = await db
    .prepare(
      `SELECT id, collection, accepted_metadata AS metadata, status, chunk_count, job_id, error, created_at, updated_at
       FROM documents
       WHERE tenant = ?1 AND id > ?2 AND (?3 IS NULL OR collection = ?3) AND (?4 IS NULL OR status = ?4)
       ORDER BY id LIMIT ?5`,
    )
    // One row more than the page tells whether another page follows.
    .bind(tenant, options.after ?? "", options.collection ?? null, options.status ?? null, options.limit + 1)
    .all<Omit<DocumentRow, "text" | "content_hash" | "indexed_hash">>();
  const page = results.slice(0, options.limit).map((row) => ({ ...row, metadata: JSON.parse(row.metadata) as DocumentMetadata }));
  return { documents: page, nextAfter: results.length > options.limit ? (page.at(-1)?.id ?? null) : null };
}

/**
 * Deletes a document and its chunks in one batch, records its vector ids for deletion from the
 * vector index and bumps the index version. False when the tenant has no such document. When it
 * was the tenant's last document, the tenant's keyword index is dropped too (a failure there only
 * leaves an empty index behind, so it is logged, not thrown: the document is gone either way).
 */
export async function deleteDocument(db: D1Database, tenant: string, id: string, now: number): Promise<boolean> {
  const batch = createD1Batch(db);
  batch.add(
    db
      .prepare(
        `INSERT OR IGNORE INTO vector_deletions (tenant, id, created_at) SELECT tenant, id, ?2 FROM chunks WHERE tenant = ?1 AND document_id = ?3`,
      )
      .bind(tenant, now, id),
  );
  batch.add(
    bumpIndexVersionStatement(db, tenant, now, { sql: "EXISTS (SELECT 1 FROM documents WHERE tenant = ?1 AND id = ?4)", params: [id] }),
  );
  batch.add(db.prepare("DELETE FROM chunks WHERE tenant = ?1 AND document_id = ?2").bind(tenant, id));
  const deleted = batch.add(db.prepare("DELETE FROM documents WHERE tenant = ?1 AND id = ?2").bind(tenant, id));
  await batch.run();
  if (deleted.changes() === 0) return false;
  await dropKeywordIndexIfUnused(db, tenant).catch((error) => log.warn("keyword index drop failed", { tenant, ...errorFields(error) }));
  return true;
}
