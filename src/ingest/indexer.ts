import { z } from "zod";
import { fieldErrors, OriginBadResponse, OriginRejected, validationFailed, type FieldError } from "../errors";
import { errorFields, log } from "../logger";
import type { OriginClient } from "../origin/origin-client";
import type { Services } from "../services";
import { bumpIndexVersionStatement, createTenantStore } from "../store/tenant-store";
import { CollectionSchema, DEFAULT_COLLECTION, DocumentInputSchema, type DocumentInput, type DocumentMetadata } from "./document-input";
import { groupRowsForJson, prepareDocuments, recordDocumentsStatements } from "./document-store";
import { chunkId } from "./hashing";
import { finalizeJobStatement } from "./job-store";
import { planMessages } from "./messages";
import { DEFAULT_VISIBILITY, purgeDeletedVectors, upsertVectors, waitUntilVisible, type VisibilityOptions } from "./vector-writes";

/**
 * The indexing core: documents recorded in D1 → chunks and embeddings from the origin → vectors
 * upserted into the tenant's namespace and confirmed visible → chunks written to D1 (the FTS5
 * index follows by trigger), the document marked indexed and the tenant's index version bumped,
 * in one D1 batch → the replaced chunks' vectors deleted.
 *
 * Promise: after `indexRecorded` returns, each target is `done` (its chunks are in D1 and its
 * vectors are visible to queries), `skipped` or `failed` (a permanent failure, e.g. the origin
 * rejected the document); a transient failure (origin down, vector index failing, vectors not yet
 * visible, D1 error) throws an ApiError and nothing of the target is marked done, so a retry
 * redoes it. Every write is idempotent and guarded by the document's content hash: a retry never
 * duplicates chunks, and a document deleted or changed meanwhile is skipped, not resurrected.
 */

export type IngestServices = Pick<Services, "db" | "vectors" | "origin">;

export interface IndexTarget {
  documentId: string;
  /** The content this work is for; anything else in D1 by now means it was superseded. */
  contentHash: string;
}

export type DocumentOutcome =
  | { document_id: string; status: "done"; chunks: number }
  | { document_id: string; status: "skipped"; reason: "unchanged" | "superseded" | "deleted" }
  | { document_id: string; status: "failed"; error: string };

export interface IndexOptions {
  /** Dimensions the index expects (config EMBEDDING_DIMENSIONS); default: the index's describe(). */
  dimensions?: number;
  /** Record progress on this job's rows and status. */
  jobId?: string;
  visibility?: VisibilityOptions;
}

export interface IndexSummary {
  documents: DocumentOutcome[];
  chunks: number;
  index_version: number;
}

/**
 * Indexes documents right away, without the queue: records them in D1 (like POST /v1/documents,
 * minus the job) and indexes them. For fixtures, tools and tests; the API path is the queue.
 * Throws VALIDATION_FAILED for a document that POST /v1/documents would reject.
 */
export async function indexDocuments(
  services: IngestServices,
  tenant: string,
  documents: Array<DocumentInput & { collection?: string }>,
  options: IndexOptions = {},
): Promise<IndexSummary> {
  const byCollection = new Map<string, Array<{ position: number; input: DocumentInput }>>();
  const issues: FieldError[] = [];
  const seen = new Set<string>();
  documents.forEach((document, position) => {
    const { collection = DEFAULT_COLLECTION, ...input } = document;
    const parsed = DocumentInputSchema.safeParse(input);
    if (!parsed.success) issues.push(...fieldErrors(parsed.error.issues, [position]));
    if (!CollectionSchema.safeParse(collection).success) issues.push({ path: `${position}.collection`, message: "must match [a-z0-9][a-z0-9_-]{0,63}" });
    if (input.id !== undefined && seen.has(input.id)) issues.push({ path: `${position}.id`, message: `duplicates an earlier id (${input.id})` });
    if (input.id !== undefined) seen.add(input.id);
    if (parsed.success) byCollection.set(collection, [...(byCollection.get(collection) ?? []), { position, input: parsed.data }]);
  });
  if (issues.length > 0) throw validationFailed(issues);

  // Outcomes in the caller's order.
  const outcomes: DocumentOutcome[] = new Array(documents.length);
  const now = Date.now();
  for (const [collection, entries] of byCollection) {
    const prepared = await prepareDocuments(services.db, tenant, entries.map((entry) => entry.input), collection);
    const positions = new Map(prepared.map((document, i) => [document.id, entries[i]!.position]));
    const record = recordDocumentsStatements(services.db, tenant, prepared, now);
    if (record.length > 0) await services.db.batch(record);
    for (const document of prepared.filter((d) => d.unchanged)) outcomes[positions.get(document.id)!] = { document_id: document.id, status: "skipped", reason: "unchanged" };
    const changed = prepared.filter((document) => !document.unchanged);
    const hashes = new Map(changed.map((document) => [document.id, document.hash]));
    // Same grouping as the queue: one origin call per group.
    for (const message of planMessages(tenant, "direct", changed.map((d) => ({ id: d.id, textLength: d.text.length })))) {
      const targets = message.document_ids.map((id) => ({ documentId: id, contentHash: hashes.get(id)! }));
      for (const outcome of await indexRecorded(services, tenant, targets, options)) outcomes[positions.get(outcome.document_id)!] = outcome;
    }
  }
  return {
    documents: outcomes,
    chunks: outcomes.reduce((sum, outcome) => sum + (outcome.status === "done" ? outcome.chunks : 0), 0),
    index_version: await createTenantStore(services.db).indexVersion(tenant),
  };
}

interface CurrentDocument {
  id: string;
  collection: string;
  text: string;
  metadata: string;
  content_hash: string;
  indexed_hash: string | null;
}

/** Indexes documents already recorded in D1 (see the module promise). One origin call for all targets. */
export async function indexRecorded(services: IngestServices, tenant: string, targets: IndexTarget[], options: IndexOptions = {}): Promise<DocumentOutcome[]> {
  const { db } = services;
  if (targets.length === 0) return [];
  const { results } = await db
    .prepare(
      `SELECT id, collection, text, metadata, content_hash, indexed_hash FROM documents
       WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?2))`,
    )
    .bind(tenant, JSON.stringify(targets.map((target) => target.documentId)))
    .all<CurrentDocument>();
  const current = new Map(results.map((row) => [row.id, row]));

  const outcomes = new Map<string, DocumentOutcome>();
  const work: Array<{ target: IndexTarget; document: CurrentDocument }> = [];
  for (const target of targets) {
    const document = current.get(target.documentId);
    const id = target.documentId;
    if (!document) outcomes.set(id, { document_id: id, status: "skipped", reason: "deleted" });
    else if (document.content_hash !== target.contentHash) outcomes.set(id, { document_id: id, status: "skipped", reason: "superseded" });
    else if (document.indexed_hash === target.contentHash) outcomes.set(id, { document_id: id, status: "skipped", reason: "unchanged" });
    else work.push({ target, document });
  }

  const embedded = work.length > 0 ? await embed(services.origin, work.map((item) => item.document)) : { results: new Map<string, OriginDocument | string>(), model: null };
  const dimensions = options.dimensions ?? (work.length > 0 ? (await services.vectors.describe()).dimensions : 0);

  // Vectors first, confirmed visible, so that whatever D1 calls indexed is searchable both ways.
  const ready: Array<{ target: IndexTarget; document: CurrentDocument; chunks: PreparedChunk[] }> = [];
  const vectors: VectorizeVector[] = [];
  for (const { target, document } of work) {
    const result = embedded.results.get(document.id);
    if (typeof result === "string") {
      outcomes.set(document.id, { document_id: document.id, status: "failed", error: result });
      continue;
    }
    const problem = checkEmbedding(result, dimensions);
    if (problem) {
      outcomes.set(document.id, { document_id: document.id, status: "failed", error: problem });
      continue;
    }
    const metadata = { ...(JSON.parse(document.metadata) as DocumentMetadata), document_id: document.id, collection: document.collection };
    const chunks = await Promise.all(
      result!.chunks.map(async (chunk, index) => ({ id: await chunkId(tenant, document.id, target.contentHash, index), index, text: chunk.text, start: chunk.start, end: chunk.end, vector: chunk.vector })),
    );
    for (const chunk of chunks) vectors.push({ id: chunk.id, values: chunk.vector, namespace: tenant, metadata });
    ready.push({ target, document, chunks });
  }
  if (vectors.length > 0) {
    const receipts = await upsertVectors(services.vectors, vectors);
    await waitUntilVisible(services.vectors, receipts, options.visibility ?? DEFAULT_VISIBILITY);
  }

  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  // Where each document's "mark indexed" UPDATE sits in the batch: its `changes` say whether the guard held.
  const marks: Array<{ id: string; at: number; chunkIds: string[] }> = [];
  for (const { target, document, chunks } of ready) {
    const commit = commitStatements(db, tenant, target, document.collection, chunks, now, options.jobId);
    marks.push({ id: document.id, at: statements.length + commit.markIndexed, chunkIds: chunks.map((chunk) => chunk.id) });
    statements.push(...commit.statements);
  }
  if (ready.length > 0) {
    const indexed = JSON.stringify(ready.map(({ target }) => [target.documentId, target.contentHash]));
    const anyIndexed = `EXISTS (SELECT 1 FROM documents d, json_each(?4) j
      WHERE d.tenant = ?1 AND d.id = json_extract(j.value, '$[0]') AND d.indexed_hash = json_extract(j.value, '$[1]') AND d.content_hash = d.indexed_hash)`;
    statements.push(bumpIndexVersionStatement(db, tenant, now, { sql: anyIndexed, params: [indexed] }, embedded.model));
  }
  for (const outcome of outcomes.values()) {
    const target = targets.find((t) => t.documentId === outcome.document_id)!;
    if (outcome.status === "failed") statements.push(...failStatements(db, tenant, target, outcome.error, now, options.jobId));
    if (outcome.status === "skipped" && options.jobId) statements.push(skipStatement(db, tenant, options.jobId, outcome.document_id, now));
  }
  if (options.jobId && statements.length > 0) statements.push(finalizeJobStatement(db, tenant, options.jobId, now));
  const written = statements.length > 0 ? await db.batch(statements) : [];

  // A document changed or deleted between our read and our batch wrote nothing: it is skipped,
  // and its fresh vectors are recorded for deletion (no chunk owns them).
  const lost: string[] = [];
  for (const mark of marks) {
    if ((written[mark.at]?.meta.changes ?? 0) > 0) {
      outcomes.set(mark.id, { document_id: mark.id, status: "done", chunks: mark.chunkIds.length });
    } else {
      outcomes.set(mark.id, { document_id: mark.id, status: "skipped", reason: "superseded" });
      lost.push(...mark.chunkIds);
    }
  }
  const lostDocuments = marks.filter((mark) => outcomes.get(mark.id)?.status === "skipped");
  if (lostDocuments.length > 0) {
    await db.batch([
      db
        .prepare(
          `INSERT OR IGNORE INTO vector_deletions (tenant, id, created_at)
           SELECT ?1, value, ?2 FROM json_each(?3) WHERE value NOT IN (SELECT id FROM chunks WHERE tenant = ?1)`,
        )
        .bind(tenant, now, JSON.stringify(lost)),
      ...(options.jobId ? lostDocuments.map((mark) => skipStatement(db, tenant, options.jobId!, mark.id, now)) : []),
      ...(options.jobId ? [finalizeJobStatement(db, tenant, options.jobId, now)] : []),
    ]);
  }
  if (ready.length > 0) {
    // Best effort here; what fails stays recorded for the scheduled sweep.
    await purgeDeletedVectors(db, services.vectors, { tenant }).catch((error) => {
      log.warn("vector purge deferred", { tenant, ...errorFields(error) });
    });
  }
  return targets.map((target) => outcomes.get(target.documentId)!);
}

interface PreparedChunk {
  id: string;
  index: number;
  text: string;
  start: number;
  end: number;
}

/**
 * One document's D1 writes, each guarded by "the document still has this content": record the
 * old chunks' vector ids for deletion, replace the chunks, un-record the new ids, mark the
 * document indexed (its `changes` tells whether the guard held) and the job's row done.
 */
function commitStatements(
  db: D1Database,
  tenant: string,
  target: IndexTarget,
  collection: string,
  chunks: PreparedChunk[],
  now: number,
  jobId: string | undefined,
): { statements: D1PreparedStatement[]; markIndexed: number } {
  const guard = "EXISTS (SELECT 1 FROM documents WHERE tenant = ?1 AND id = ?2 AND content_hash = ?3)";
  const ids = JSON.stringify(chunks.map((chunk) => chunk.id));
  const bind = (sql: string, ...rest: unknown[]) => db.prepare(sql).bind(tenant, target.documentId, target.contentHash, ...rest);
  const statements = [
    bind(
      `INSERT OR IGNORE INTO vector_deletions (tenant, id, created_at)
       SELECT tenant, id, ?4 FROM chunks
       WHERE tenant = ?1 AND document_id = ?2 AND id NOT IN (SELECT value FROM json_each(?5)) AND ${guard}`,
      now,
      ids,
    ),
    bind(`DELETE FROM chunks WHERE tenant = ?1 AND document_id = ?2 AND ${guard}`),
  ];
  const rows = chunks.map((chunk) => [chunk.id, chunk.index, chunk.text, chunk.start, chunk.end]);
  const { groups, oversized } = groupRowsForJson(rows);
  for (const group of [...groups, ...oversized.map((row) => [row])]) {
    statements.push(
      bind(
        `INSERT INTO chunks (id, tenant, document_id, collection, chunk_index, text, start_offset, end_offset)
         SELECT json_extract(value, '$[0]'), ?1, ?2, ?4, json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                json_extract(value, '$[3]'), json_extract(value, '$[4]')
         FROM json_each(?5) WHERE ${guard}`,
        collection,
        JSON.stringify(group),
      ),
    );
  }
  statements.push(
    bind(`DELETE FROM vector_deletions WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?4)) AND ${guard}`, ids),
  );
  const markIndexed = statements.length;
  statements.push(
    bind(
      `UPDATE documents SET indexed_hash = ?3, status = 'indexed', chunk_count = ?4, error = NULL, updated_at = ?5
       WHERE tenant = ?1 AND id = ?2 AND content_hash = ?3`,
      chunks.length,
      now,
    ),
  );
  if (jobId) {
    statements.push(
      bind(
        `UPDATE job_documents SET status = 'done', chunks = ?5, error = NULL, updated_at = ?6
         WHERE job_id = ?4 AND tenant = ?1 AND document_id = ?2 AND status = 'queued' AND ${guard}`,
        jobId,
        chunks.length,
        now,
      ),
    );
  }
  return { statements, markIndexed };
}

function failStatements(db: D1Database, tenant: string, target: IndexTarget, error: string, now: number, jobId: string | undefined): D1PreparedStatement[] {
  const statements = [
    db
      .prepare("UPDATE documents SET status = 'failed', error = ?4, updated_at = ?5 WHERE tenant = ?1 AND id = ?2 AND content_hash = ?3 AND indexed_hash IS NOT content_hash")
      .bind(tenant, target.documentId, target.contentHash, error, now),
  ];
  if (jobId) {
    statements.push(
      db
        .prepare("UPDATE job_documents SET status = 'failed', error = ?4, updated_at = ?5 WHERE job_id = ?3 AND tenant = ?1 AND document_id = ?2 AND status = 'queued'")
        .bind(tenant, target.documentId, jobId, error, now),
    );
  }
  return statements;
}

function skipStatement(db: D1Database, tenant: string, jobId: string, documentId: string, now: number): D1PreparedStatement {
  return db
    .prepare("UPDATE job_documents SET status = 'skipped', error = NULL, updated_at = ?4 WHERE job_id = ?3 AND tenant = ?1 AND document_id = ?2 AND status = 'queued'")
    .bind(tenant, documentId, jobId, now);
}

// ─── The origin call ────────────────────────────────────────────────────────────────────────────

/** The origin's /v1/ingest answer, checked: it is another service's output, not to be trusted blindly. */
const OriginIngestSchema = z.object({
  model: z.string().min(1).max(256),
  dimensions: z.number().int().positive(),
  documents: z.array(
    z.object({
      id: z.string(),
      chunks: z.array(
        z.object({
          index: z.number().int().nonnegative(),
          text: z.string(),
          start: z.number().int().nonnegative(),
          end: z.number().int().nonnegative(),
          vector: z.array(z.number()),
        }),
      ),
    }),
  ),
});

type OriginDocument = z.infer<typeof OriginIngestSchema>["documents"][number];

/**
 * Chunks and embeds the documents in one origin call. A rejection (ORIGIN_REJECTED, the origin
 * refused the request itself) of several documents is retried one by one, so that one bad
 * document fails alone; a document the origin rejects on its own fails permanently. Anything
 * else (unavailable, timeout, malformed answer) throws: the message is retried.
 */
async function embed(origin: OriginClient, documents: CurrentDocument[]): Promise<{ results: Map<string, OriginDocument | string>; model: string | null }> {
  const results = new Map<string, OriginDocument | string>();
  let model: string | null = null;
  const call = async (batch: CurrentDocument[]) => {
    const raw = await origin.ingest(batch.map((document) => ({ id: document.id, text: document.text })));
    const parsed = OriginIngestSchema.safeParse(raw);
    if (!parsed.success) throw new OriginBadResponse("the origin's ingest response did not have the expected shape");
    model = parsed.data.model;
    const byId = new Map(parsed.data.documents.map((document) => [document.id, document]));
    for (const document of batch) {
      const result = byId.get(document.id);
      if (!result) throw new OriginBadResponse("the origin's ingest response left out a document");
      results.set(document.id, result);
    }
  };
  try {
    await call(documents);
  } catch (error) {
    if (!(error instanceof OriginRejected)) throw error;
    if (documents.length === 1) {
      results.set(documents[0]!.id, `${error.code}: ${error.detail}`);
    } else {
      for (const document of documents) {
        try {
          await call([document]);
        } catch (single) {
          if (!(single instanceof OriginRejected)) throw single;
          results.set(document.id, `${single.code}: ${single.detail}`);
        }
      }
    }
  }
  return { results, model };
}

/** Why an embedding cannot be stored, or null when it can. */
function checkEmbedding(result: OriginDocument | undefined, dimensions: number): string | null {
  if (!result) return "ORIGIN_BAD_RESPONSE: no chunks for the document";
  for (const [position, chunk] of result.chunks.entries()) {
    if (chunk.index !== position) return "ORIGIN_BAD_RESPONSE: chunks out of order";
    if (chunk.vector.length !== dimensions) {
      return `EMBEDDING_DIMENSIONS_MISMATCH: the origin returned ${chunk.vector.length}-dimensional vectors; the index holds ${dimensions}`;
    }
    if (chunk.end < chunk.start) return "ORIGIN_BAD_RESPONSE: a chunk ends before it starts";
  }
  return null;
}
