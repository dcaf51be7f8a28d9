import { OriginBadResponse, OriginRejected } from "../errors";
import { errorFields, log } from "../logger";
import type { OriginClient, Origins } from "../origin/origin-client";
import { keywordIndexStatementsForWrite, markKeywordIndexBuilt } from "../retrieval/keyword-index";
import type { OriginDocument } from "../shared/origin-contract";
import { chunkQuotaGuardStatements, type TenantLimitsStore } from "../store/tenant-limits";
import { type BumpGuard, bumpIndexVersionStatement } from "../store/tenant-store";
import type { VectorIndex } from "../vector/vector-index";
import { createD1Batch, type D1Batch, type StatementResult } from "./d1-batch";
import { type DocumentMetadata, documentTitle } from "./document-input";
import { groupRowsForJson } from "./document-store";
import { chunkId } from "./hashing";
import { finalizeJobStatement } from "./job-store";
import {
  DEFAULT_VISIBILITY,
  purgeDeletedVectors,
  recordPendingVectorsStatements,
  upsertVectors,
  type VisibilityOptions,
  waitUntilVisible,
} from "./vector-writes";

/**
 * The indexing core, in the order the data flows (one function per phase, below):
 *   load work → chunk and embed (the origin) → to vectors → write visible vectors (the index)
 *   → commit (one D1 batch) → reconcile (lost vectors, purge).
 * Documents recorded in D1 are chunked and embedded by the origin; their vectors are upserted
 * into the tenant's namespace and confirmed visible; then one D1 batch writes the chunks (the
 * FTS5 index follows by trigger), marks each document indexed with the metadata it was embedded
 * with, bumps the tenant's index version and records the job's progress; last, the replaced
 * chunks' vectors are deleted.
 *
 * Promise: after `indexRecorded` returns, each target is `done` (its chunks are in D1 and its
 * vectors are visible to queries), `skipped` or `failed` (a permanent failure, e.g. the origin
 * rejected the document); a transient failure (origin down, vector index failing, vectors not yet
 * visible, D1 error) throws an ApiError and nothing of the target is marked done, so a retry
 * redoes it. Every write is idempotent and guarded by the document's version (content hash and
 * revision): a retry never duplicates chunks, a document deleted or changed meanwhile is skipped,
 * not resurrected, and the vector ids of a version the document has left are never reused (see
 * chunkId), so purging them can never delete a live chunk's vector.
 */

/** What indexing needs of the services (declared here, not picked from Services: services.ts builds the ingest service from this module). */
export interface IngestServices {
  db: D1Database;
  vectors: VectorIndex;
  origin: Origins;
  tenantLimits: TenantLimitsStore;
}

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

/** Indexes documents already recorded in D1 (see the module promise). One origin call for all targets. */
export async function indexRecorded(
  services: IngestServices,
  tenant: string,
  targets: IndexTarget[],
  options: IndexOptions = {},
): Promise<DocumentOutcome[]> {
  if (targets.length === 0) return [];
  const lap = createLap();
  const { work, skipped } = await loadWork(services.db, tenant, targets);
  lap("load");
  const { embedded, failed, model } = await chunkAndEmbed(services, tenant, work, options.dimensions);
  lap("embed");
  const { maxChunks } = await services.tenantLimits.get(tenant);
  const { admitted, overQuota } = await admitWithinChunkQuota(services.db, tenant, embedded, maxChunks);
  failed.push(...overQuota);
  const ready = await toVectors(tenant, admitted);
  lap("to_vectors");
  await writeVisibleVectors(services, tenant, ready, options.visibility ?? DEFAULT_VISIBILITY);
  lap("vectors");
  const { committed, superseded } = await commit(services.db, tenant, { ready, failed, skipped, model }, options.jobId, maxChunks);
  lap("commit");
  await reconcile(services, tenant, { ready, superseded }, options.jobId);
  // Where a message's time goes (the origin should dominate; anything else is overhead to pipeline).
  log.info("documents indexed", {
    tenant,
    documents: targets.length,
    chunks: ready.reduce((sum, document) => sum + document.chunks.length, 0),
    phases_ms: lap("reconcile"),
  });

  const outcomes = new Map<string, DocumentOutcome>();
  for (const outcome of [...skipped, ...failed.map(({ outcome }) => outcome), ...committed]) outcomes.set(outcome.document_id, outcome);
  return targets.map((target) => outcomes.get(target.documentId)!);
}

/** A document as the load found it: at the version its target asked for, and not indexed yet. */
export interface LoadedDocument {
  id: string;
  collection: string;
  text: string;
  /** The accepted metadata, as JSON. */
  metadata: string;
  content_hash: string;
  revision: string;
  indexed_hash: string | null;
}

type Skipped = Extract<DocumentOutcome, { status: "skipped" }>;
type Failed = { document: LoadedDocument; outcome: Extract<DocumentOutcome, { status: "failed" }> };

/** A document with its chunks and embeddings from the origin, checked. */
interface Embedded {
  document: LoadedDocument;
  chunks: OriginDocument["chunks"];
}

/** A document ready to commit: its chunk rows, with their ids, and their vectors. */
interface Ready {
  document: LoadedDocument;
  chunks: Array<{ id: string; index: number; text: string; start: number; end: number }>;
  vectors: VectorizeVector[];
}

/** Phase timer: each call records the time since the previous one under `phase`, and returns them all. */
function createLap(): (phase: string) => Record<string, number> {
  const phases: Record<string, number> = {};
  let last = performance.now();
  return (phase) => {
    const now = performance.now();
    phases[phase] = Math.round(now - last);
    last = now;
    return phases;
  };
}

// ─── Phase 1: load work ─────────────────────────────────────────────────────────────────────────

/** Each target's current row. Targets deleted, superseded by newer content or already indexed are settled here. */
async function loadWork(db: D1Database, tenant: string, targets: IndexTarget[]): Promise<{ work: LoadedDocument[]; skipped: Skipped[] }> {
  const { results } = await db
    .prepare(
      `SELECT id, collection, text, accepted_metadata AS metadata, content_hash, revision, indexed_hash FROM documents
       WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?2))`,
    )
    .bind(tenant, JSON.stringify(targets.map((target) => target.documentId)))
    .all<LoadedDocument>();
  return sortTargets(targets, new Map(results.map((row) => [row.id, row])));
}

/** Each target as its document stands now: work to index, or skipped (deleted, superseded by a newer version, or indexed already). */
export function sortTargets(
  targets: IndexTarget[],
  current: ReadonlyMap<string, LoadedDocument>,
): { work: LoadedDocument[]; skipped: Skipped[] } {
  const work: LoadedDocument[] = [];
  const skipped: Skipped[] = [];
  for (const { documentId, contentHash } of targets) {
    const document = current.get(documentId);
    if (!document) skipped.push({ document_id: documentId, status: "skipped", reason: "deleted" });
    else if (document.content_hash !== contentHash) skipped.push({ document_id: documentId, status: "skipped", reason: "superseded" });
    else if (document.indexed_hash === contentHash) skipped.push({ document_id: documentId, status: "skipped", reason: "unchanged" });
    else work.push(document);
  }
  return { work, skipped };
}

// ─── Phase 2: chunk and embed ───────────────────────────────────────────────────────────────────

/**
 * One origin call for all the work (see `embed`). A document the origin refuses, or whose
 * embeddings the index cannot store, fails here, permanently; the others come back embedded.
 */
async function chunkAndEmbed(
  services: IngestServices,
  tenant: string,
  work: LoadedDocument[],
  dimensions: number | undefined,
): Promise<{ embedded: Embedded[]; failed: Failed[]; model: string | null }> {
  if (work.length === 0) return { embedded: [], failed: [], model: null };
  const { results, model } = await embed(services.origin.forTenant(tenant), work);
  const expected = dimensions ?? (await services.vectors.describe()).dimensions;
  const embedded: Embedded[] = [];
  const failed: Failed[] = [];
  for (const document of work) {
    const result = results.get(document.id);
    const problem = typeof result === "string" ? result : checkEmbedding(result, expected);
    if (problem) failed.push({ document, outcome: { document_id: document.id, status: "failed", error: problem } });
    else embedded.push({ document, chunks: (result as OriginDocument).chunks });
  }
  return { embedded, failed, model };
}

// ─── Phase 2b: the chunk quota ──────────────────────────────────────────────────────────────────

/**
 * The chunk quota, known only once documents are chunked: documents are admitted in order while
 * the tenant's chunks (each document's replacing its previous version's) stay within `maxChunks`;
 * the rest fail, permanently, with QUOTA_EXCEEDED, before any vector of theirs is written. Another
 * consumer committing for the tenant meanwhile is caught by the commit batch's guard, which fails
 * the batch: the message is retried, and admitted against the chunks stored by then.
 */
async function admitWithinChunkQuota(
  db: D1Database,
  tenant: string,
  embedded: Embedded[],
  maxChunks: number,
): Promise<{ admitted: Embedded[]; overQuota: Failed[] }> {
  if (embedded.length === 0) return { admitted: [], overQuota: [] };
  const ids = JSON.stringify(embedded.map(({ document }) => document.id));
  const [stored, previous] = await db.batch<{ n: number } | { document_id: string; n: number }>([
    db.prepare("SELECT COUNT(*) AS n FROM chunks WHERE tenant = ?1").bind(tenant),
    db
      .prepare(
        "SELECT document_id, COUNT(*) AS n FROM chunks WHERE tenant = ?1 AND document_id IN (SELECT value FROM json_each(?2)) GROUP BY document_id",
      )
      .bind(tenant, ids),
  ]);
  let total = (stored!.results[0] as { n: number } | undefined)?.n ?? 0;
  const replaced = new Map((previous!.results as Array<{ document_id: string; n: number }>).map((row) => [row.document_id, row.n]));
  const admitted: Embedded[] = [];
  const overQuota: Failed[] = [];
  for (const item of embedded) {
    const after = total - (replaced.get(item.document.id) ?? 0) + item.chunks.length;
    if (after <= maxChunks) {
      admitted.push(item);
      total = after;
      continue;
    }
    const error = `QUOTA_EXCEEDED: its ${item.chunks.length} chunks would take the tenant to ${after}; its chunk quota is ${maxChunks}`;
    overQuota.push({ document: item.document, outcome: { document_id: item.document.id, status: "failed", error } });
  }
  return { admitted, overQuota };
}

// ─── Phase 3: to vectors ────────────────────────────────────────────────────────────────────────

/** Chunk ids from the document's version (see chunkId), and vectors carrying the document's metadata, id and collection. */
function toVectors(tenant: string, embedded: Embedded[]): Promise<Ready[]> {
  return Promise.all(
    embedded.map(async ({ document, chunks }) => {
      const version = { contentHash: document.content_hash, revision: document.revision };
      const ids = await Promise.all(chunks.map((_, index) => chunkId(tenant, document.id, version, index)));
      const metadata = {
        ...(JSON.parse(document.metadata) as DocumentMetadata),
        document_id: document.id,
        collection: document.collection,
      };
      return {
        document,
        chunks: chunks.map((chunk, index) => ({ id: ids[index]!, index, text: chunk.text, start: chunk.start, end: chunk.end })),
        vectors: chunks.map((chunk, index) => ({ id: ids[index]!, values: chunk.vector, namespace: tenant, metadata })),
      };
    }),
  );
}

// ─── Phase 4: write visible vectors ─────────────────────────────────────────────────────────────

/**
 * Vectors first, confirmed visible (or VECTORS_NOT_VISIBLE, and the message is retried), so that
 * whatever D1 calls indexed is searchable both ways. A retry upserts the same ids again.
 */
async function writeVisibleVectors(services: IngestServices, tenant: string, ready: Ready[], visibility: VisibilityOptions): Promise<void> {
  const all = ready.flatMap((document) => document.vectors);
  if (all.length === 0) return;
  // Write-ahead: should this attempt never commit, what it upserted is still purged (vector-writes.ts).
  await services.db.batch(
    recordPendingVectorsStatements(
      services.db,
      tenant,
      all.map((vector) => vector.id),
      Date.now(),
    ),
  );
  await waitUntilVisible(services.vectors, await upsertVectors(services.vectors, all), visibility);
}

// ─── Phase 5: commit ────────────────────────────────────────────────────────────────────────────

/**
 * One D1 batch, all or nothing: each ready document's chunks replace its old ones and it is
 * marked indexed, guarded by "still at this version"; the index version bumps when one of them
 * was; failures, skips and the job's status are recorded. A ready document whose guard failed
 * (changed or deleted since the load) is superseded: its fresh vectors are nobody's.
 */
async function commit(
  db: D1Database,
  tenant: string,
  settled: { ready: Ready[]; failed: Failed[]; skipped: Skipped[]; model: string | null },
  jobId: string | undefined,
  maxChunks: number,
): Promise<{ committed: DocumentOutcome[]; superseded: Ready[] }> {
  const now = Date.now();
  const batch = createD1Batch(db);
  // The tenant's keyword index (and its triggers) exist before the first chunk is written.
  if (settled.ready.length > 0) batch.addAll(await keywordIndexStatementsForWrite(db, tenant));
  const marks = settled.ready.map((ready) => ({ ready, indexed: commitDocument(batch, db, tenant, ready, now, jobId) }));
  if (marks.length > 0) batch.add(bumpIndexVersionStatement(db, tenant, now, anyIndexed(settled.ready), settled.model));
  for (const { document, outcome } of settled.failed) batch.addAll(failStatements(db, tenant, document, outcome.error, now, jobId));
  if (jobId) for (const { document_id } of settled.skipped) batch.add(skipStatement(db, tenant, jobId, document_id, now));
  // Sent back to its indexed content while a newer version was pending, a document was marked
  // queued with nothing left to index: it is indexed again, as it was.
  for (const { document_id } of settled.skipped.filter(({ reason }) => reason === "unchanged"))
    batch.add(restoreIndexedStatement(db, tenant, document_id, now));
  if (jobId && batch.size > 0) batch.add(finalizeJobStatement(db, tenant, jobId, now));
  // A concurrent commit for the tenant may have taken chunks since the admission: then the whole
  // batch fails, and the retry admits against what is stored (admitWithinChunkQuota).
  if (settled.ready.length > 0) batch.addAll(chunkQuotaGuardStatements(db, tenant, maxChunks));
  await batch.run();
  if (settled.ready.length > 0) markKeywordIndexBuilt(tenant);

  const held = marks.filter(({ indexed }) => indexed.changes() > 0);
  const superseded = marks.filter(({ indexed }) => indexed.changes() === 0).map(({ ready }) => ready);
  const committed: DocumentOutcome[] = [
    ...held.map(({ ready }): DocumentOutcome => ({ document_id: ready.document.id, status: "done", chunks: ready.chunks.length })),
    ...superseded.map(({ document }): DocumentOutcome => ({ document_id: document.id, status: "skipped", reason: "superseded" })),
  ];
  return { committed, superseded };
}

/** "The document is still at the version this work was for": ?1 tenant, ?2 document id, ?3 content hash, ?4 revision. */
const STILL_AT_VERSION = "EXISTS (SELECT 1 FROM documents WHERE tenant = ?1 AND id = ?2 AND content_hash = ?3 AND revision = ?4)";

/** Binds ?1–?4 of STILL_AT_VERSION for one document, then `rest` from ?5. */
type VersionBinder = (sql: string, ...rest: unknown[]) => D1PreparedStatement;

/**
 * One document's writes in the commit batch, each guarded by STILL_AT_VERSION: its chunks
 * replaced, the document marked indexed — its metadata now the one its vectors carry; the
 * handle returned says whether the guard held — and the job's row done.
 */
function commitDocument(
  batch: D1Batch,
  db: D1Database,
  tenant: string,
  ready: Ready,
  now: number,
  jobId: string | undefined,
): StatementResult {
  const { document, chunks } = ready;
  const bind: VersionBinder = (sql, ...rest) =>
    db.prepare(sql).bind(tenant, document.id, document.content_hash, document.revision, ...rest);
  replaceChunks(batch, bind, ready, now);
  const indexed = batch.add(
    bind(
      `UPDATE documents SET indexed_hash = ?3, metadata = accepted_metadata, status = 'indexed', chunk_count = ?5, error = NULL, updated_at = ?6
       WHERE tenant = ?1 AND id = ?2 AND content_hash = ?3 AND revision = ?4`,
      chunks.length,
      now,
    ),
  );
  if (jobId) {
    batch.add(
      bind(
        `UPDATE job_documents SET status = 'done', chunks = ?6, error = NULL, updated_at = ?7
         WHERE job_id = ?5 AND tenant = ?1 AND document_id = ?2 AND status = 'queued' AND ${STILL_AT_VERSION}`,
        jobId,
        chunks.length,
        now,
      ),
    );
  }
  return indexed;
}

/**
 * The chunk swap: the old chunks' vector ids recorded for deletion, the old chunks out, the new
 * ones in (the tenant's FTS5 index follows by its triggers, keyword-index.ts), and the new ids un-recorded — defensive only: a
 * version's ids are recorded once the document has left that version, which it never re-enters.
 */
function replaceChunks(batch: D1Batch, bind: VersionBinder, { document, chunks }: Ready, now: number): void {
  const ids = JSON.stringify(chunks.map((chunk) => chunk.id));
  batch.add(
    bind(
      `INSERT OR IGNORE INTO vector_deletions (tenant, id, created_at)
       SELECT tenant, id, ?5 FROM chunks
       WHERE tenant = ?1 AND document_id = ?2 AND id NOT IN (SELECT value FROM json_each(?6)) AND ${STILL_AT_VERSION}`,
      now,
      ids,
    ),
  );
  batch.add(bind(`DELETE FROM chunks WHERE tenant = ?1 AND document_id = ?2 AND ${STILL_AT_VERSION}`));
  const title = documentTitle(JSON.parse(document.metadata) as DocumentMetadata);
  for (const group of chunkRowGroups(chunks)) {
    batch.add(
      bind(
        `INSERT INTO chunks (id, tenant, document_id, collection, chunk_index, text, start_offset, end_offset, title)
         SELECT json_extract(value, '$[0]'), ?1, ?2, ?5, json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?7
         FROM json_each(?6) WHERE ${STILL_AT_VERSION}`,
        document.collection,
        JSON.stringify(group),
        title,
      ),
    );
  }
  batch.add(
    bind(`DELETE FROM vector_deletions WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?5)) AND ${STILL_AT_VERSION}`, ids),
  );
}

/** Chunk rows as JSON groups within D1's parameter size (a row too large for any group travels alone). */
function chunkRowGroups(chunks: Ready["chunks"]): unknown[][][] {
  const { groups, oversized } = groupRowsForJson(chunks.map((chunk) => [chunk.id, chunk.index, chunk.text, chunk.start, chunk.end]));
  return [...groups, ...oversized.map((row) => [row])];
}

/** "One of these documents is now indexed at the version this work was for": the condition of the version bump. */
function anyIndexed(ready: Ready[]): BumpGuard {
  return {
    sql: `EXISTS (SELECT 1 FROM documents d, json_each(?4) j
            WHERE d.tenant = ?1 AND d.id = json_extract(j.value, '$[0]') AND d.indexed_hash = json_extract(j.value, '$[1]')
              AND d.revision = json_extract(j.value, '$[2]') AND d.content_hash = d.indexed_hash)`,
    params: [JSON.stringify(ready.map(({ document }) => [document.id, document.content_hash, document.revision]))],
  };
}

function failStatements(
  db: D1Database,
  tenant: string,
  document: LoadedDocument,
  error: string,
  now: number,
  jobId: string | undefined,
): D1PreparedStatement[] {
  const statements = [
    db
      .prepare(
        "UPDATE documents SET status = 'failed', error = ?4, updated_at = ?5 WHERE tenant = ?1 AND id = ?2 AND content_hash = ?3 AND indexed_hash IS NOT content_hash",
      )
      .bind(tenant, document.id, document.content_hash, error, now),
  ];
  if (jobId) {
    statements.push(
      db
        .prepare(
          "UPDATE job_documents SET status = 'failed', error = ?4, updated_at = ?5 WHERE job_id = ?3 AND tenant = ?1 AND document_id = ?2 AND status = 'queued'",
        )
        .bind(tenant, document.id, jobId, error, now),
    );
  }
  return statements;
}

/** An `unchanged` document back to `indexed`, unless another version arrived since (content_hash moved on). */
function restoreIndexedStatement(db: D1Database, tenant: string, documentId: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE documents SET status = 'indexed', error = NULL, updated_at = ?3
       WHERE tenant = ?1 AND id = ?2 AND status <> 'indexed' AND content_hash = indexed_hash`,
    )
    .bind(tenant, documentId, now);
}

function skipStatement(db: D1Database, tenant: string, jobId: string, documentId: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      "UPDATE job_documents SET status = 'skipped', error = NULL, updated_at = ?4 WHERE job_id = ?3 AND tenant = ?1 AND document_id = ?2 AND status = 'queued'",
    )
    .bind(tenant, documentId, jobId, now);
}

// ─── Phase 6: reconcile ─────────────────────────────────────────────────────────────────────────

/**
 * After the commit: the fresh vectors of superseded documents are recorded for deletion (those
 * no chunk owns) and their job rows skipped; then recorded vector ids are purged from the index —
 * best effort here, what fails stays recorded for the scheduled sweep.
 */
async function reconcile(
  services: IngestServices,
  tenant: string,
  { ready, superseded }: { ready: Ready[]; superseded: Ready[] },
  jobId: string | undefined,
): Promise<void> {
  const { db } = services;
  if (superseded.length > 0) {
    const now = Date.now();
    const lost = superseded.flatMap(({ chunks }) => chunks.map((chunk) => chunk.id));
    await db.batch([
      db
        .prepare(
          `INSERT INTO vector_deletions (tenant, id, created_at)
           SELECT ?1, value, ?2 FROM json_each(?3) WHERE value NOT IN (SELECT id FROM chunks WHERE tenant = ?1)
           ON CONFLICT (tenant, id) DO UPDATE SET created_at = excluded.created_at`,
        )
        .bind(tenant, now, JSON.stringify(lost)),
      ...(jobId ? superseded.map(({ document }) => skipStatement(db, tenant, jobId, document.id, now)) : []),
      ...(jobId ? [finalizeJobStatement(db, tenant, jobId, now)] : []),
    ]);
  }
  if (ready.length > 0) {
    await purgeDeletedVectors(db, services.vectors, { tenant }).catch((error) => {
      log.warn("vector purge deferred", { tenant, ...errorFields(error) });
    });
  }
}

// ─── The origin call ────────────────────────────────────────────────────────────────────────────

/**
 * Chunks and embeds the documents in one origin call. A rejection (ORIGIN_REJECTED, the origin
 * refused the request itself) of several documents is retried one by one, so that one bad
 * document fails alone; a document the origin rejects on its own fails permanently. Anything
 * else (unavailable, timeout, malformed answer) throws: the message is retried.
 */
async function embed(
  origin: OriginClient,
  documents: LoadedDocument[],
): Promise<{ results: Map<string, OriginDocument | string>; model: string | null }> {
  const results = new Map<string, OriginDocument | string>();
  let model: string | null = null;
  const call = async (batch: LoadedDocument[]) => {
    // The client checked the answer's shape; what is left to check is that it covers the batch.
    const answer = await origin.ingest(batch.map((document) => ({ id: document.id, text: document.text })));
    model = answer.model;
    const byId = new Map(answer.documents.map((document) => [document.id, document]));
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
