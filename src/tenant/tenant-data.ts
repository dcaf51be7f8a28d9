/**
 * TenantData — one tenant's data plane as a SQLite-backed Durable Object (issue 23): its
 * documents, chunks and keyword (FTS5) index, its ingestion jobs, its vector-deletion bookkeeping,
 * its usage counters, index version and cache epoch, and (shard 0) its webhooks and their
 * deliveries, each job's event recorded in the transaction that finishes the job. One instance per tenant
 * (`TENANT_DATA.idFromName(tenant)`), so no tenant's size or write rate touches another's, and
 * each tenant's BM25 statistics are its own without a table per tenant in a shared schema.
 *
 * Promise: every method is one synchronous run over the object's SQLite (no await inside), so
 * each call is atomic and isolated from every other call to the same tenant; writes that must
 * hold together run in one `transactionSync`. Usage counters move by trigger with the rows they
 * count (tenant-schema.ts): a quota check reads O(1) rows and cannot race another ingest, since
 * the check and the write are one transaction of the tenant's single writer.
 *
 * Failure modes: a thrown method rejects the caller's RPC with the error (nothing of the call is
 * written); a refused quota is a result (`ok: false`), not an error, since errors lose their class
 * across RPC. The object being unreachable (overload, reset) rejects the RPC: callers answer 503
 * or retry the queue message. Latency: one RPC round trip to the object's location (the tenant's
 * region) plus SQLite work measured in microseconds per row.
 */
import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../bindings";
import { loadConfig } from "../config";
import type { DocumentMetadata } from "../ingest/document-input";
import { type AcceptedDocument, acceptedRow, type DocumentSummary, type StoredDocument } from "../ingest/document-store";
import { JOB_OUTCOMES_LISTED, type JobOutcome, type JobView } from "../ingest/job-store";
import type { SweepMessage } from "../ingest/messages";
import { errorFields, log } from "../logger";
import { createSqlParams, type FilterPlan, filterSql, type SqlValue } from "../retrieval/filters";
import { type StorageQuotaBreach, storageQuotaBreach } from "../store/tenant-limits";
import { eventOf, jobEventPayload, newDeliveryId, type WebhookEvent, type WebhookMessage } from "../webhooks/webhook-events";
import {
  COPY_UNFINISHED,
  COPYING,
  type CopyProgress,
  d1State,
  hasD1Data,
  migrateTenantData,
  type TenantDataMigration,
} from "./migrate-tenant-data";
import { type RowDigest, TENANT_TABLE_NAMES, TENANT_TABLES, type TenantRow, type TenantStateRow, type TenantTable } from "./tenant-rows";
import { migrateTenantSchema, TITLE_WEIGHT } from "./tenant-schema";
import { parseShardObjectName } from "./tenant-shards";

// The object keeps the shapes the D1 stores declare (the same rows, one tenant's).
export type { AcceptedDocument, DocumentSummary, StoredDocument } from "../ingest/document-store";
export type { JobView } from "../ingest/job-store";

export interface StorageQuota {
  maxDocuments: number;
  maxBytes: number;
  maxChunks: number;
}

/** SQLite rows a call read and wrote (the cursors' own counts). */
export interface RowCost {
  rowsRead: number;
  rowsWritten: number;
}

export type QuotaRefusal = { ok: false } & StorageQuotaBreach;

/** A document as a re-index reads it: its accepted version and its original's key (null for a document sent as text). */
export interface ReindexSource {
  id: string;
  collection: string;
  text: string;
  metadata: DocumentMetadata;
  layout: string | null;
  fileKey: string | null;
}

export interface AcceptRequest {
  documents: AcceptedDocument[];
  job?: { id: string };
  quota: StorageQuota;
  now: number;
  /** The tenant's shard count: refused (an error) when the object holds documents written under another. */
  shards?: number;
  /** Accept now, make it visible and sendable later (confirmHold) or undo it (abortHold): a multi-shard accept's first phase. */
  hold?: string;
  /**
   * Documents of the job that failed before they could be stored (a file the origin could not
   * parse): recorded as failed in the job, with their error; any stored version stays as it is.
   * Only with `job`.
   */
  failed?: Array<{ id: string; error: string }>;
  /**
   * A re-index: every document is indexed again even when its content is what is indexed now (a
   * new revision, and its indexed hash cleared so the indexer does not skip it as unchanged); its
   * chunks stay searchable until the new ones commit.
   */
  reindex?: boolean;
}

/** The document columns an accept overwrites: what a hold keeps of the row it replaced, and abortHold puts back. */
const HELD_COLUMNS = [
  "collection",
  "text",
  "accepted_metadata",
  "content_hash",
  "revision",
  "status",
  "job_id",
  "error",
  "updated_at",
  "layout",
  "file_key",
] as const;

export type AcceptResult =
  | {
      ok: true;
      /** `replacedFile`: the key of the original file the accepted version replaced (the caller deletes it), or null. */
      documents: Array<{ id: string; unchanged: boolean; textLength: number; replacedFile: string | null }>;
      cost: RowCost;
    }
  | (QuotaRefusal & { cost: RowCost })
  /** Written under another shard count than the object's documents were (tenant-shards.ts): a configuration error. */
  | { ok: false; misplaced: true; detail: string; cost: RowCost };

export interface ReadyDocument {
  id: string;
  contentHash: string;
  revision: string;
  collection: string;
  title: string;
  /** `page` and `section`: where the chunk came from (a document made from a file), null or absent where unknown. */
  chunks: Array<{ id: string; index: number; text: string; start: number; end: number; page?: number | null; section?: string | null }>;
}

/** What indexing did with one document. */
export type DocumentOutcome =
  | { document_id: string; status: "done"; chunks: number }
  | { document_id: string; status: "skipped"; reason: "unchanged" | "superseded" | "deleted" }
  | { document_id: string; status: "failed"; error: string };

/** A document to index, at the content its message asked for; anything else stored by now means it was superseded. */
export interface IndexTarget {
  documentId: string;
  contentHash: string;
}

/** A document as a load found it: at the version its target asked for, and not indexed yet. */
export interface LoadedDocument {
  id: string;
  collection: string;
  text: string;
  /** The accepted metadata, as JSON. */
  metadata: string;
  /** A document made from a file: its blocks' locations (layout.ts), else null. */
  layout: string | null;
  content_hash: string;
  revision: string;
  indexed_hash: string | null;
}

type Skipped = Extract<DocumentOutcome, { status: "skipped" }>;

export interface CommitRequest {
  ready: ReadyDocument[];
  failed: Array<{ id: string; contentHash: string; error: string }>;
  skipped: Array<{ id: string; reason: "unchanged" | "superseded" | "deleted" }>;
  model: string | null;
  jobId?: string;
  maxChunks: number;
  now: number;
}

export type CommitResult = { ok: true; outcomes: DocumentOutcome[]; indexVersion: number } | { ok: false; reason: "chunk_quota" };

export interface TenantDataStats {
  documents: number;
  chunks: number;
  bytes: number;
  collections: number;
  index_version: number;
  cache_epoch: number;
  embedding_model: string | null;
}

/** A chunk with its document's (indexed) metadata, as retrieval cites it. */
export interface TenantChunk {
  id: string;
  document_id: string;
  collection: string;
  chunk_index: number;
  text: string;
  /** Where the chunk came from, when its document was a file: its PDF page, its heading path joined with " › ". */
  page: number | null;
  section: string | null;
  metadata: DocumentMetadata;
}

export interface KeywordHit {
  id: string;
  /** BM25 against the tenant's own statistics (FTS5 `-bm25()`: higher is better). */
  bm25: number;
}

/** A registered webhook as the API shows it (never its secret). */
export interface WebhookView {
  id: string;
  url: string;
  events: WebhookEvent[];
  created_at: number;
}

export type DeliveryStatus = "pending" | "delivered" | "failed";

/** One delivery of an event to a webhook, as its log shows it. */
export interface DeliveryView {
  id: string;
  event: WebhookEvent;
  job_id: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

/** What the delivery consumer needs for one attempt: the target, the secret to sign with, the recorded body. */
export interface DeliveryToSend {
  id: string;
  webhook_id: string;
  url: string;
  secret: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
}

/** A chunk as SQLite returns it, its document's metadata still JSON. */
type ChunkRow = Omit<TenantChunk, "metadata"> & { metadata: string };

// ─── Bucket sync's state (bucket-sync.ts) ──────────────────────────────────────────────────────

export type SyncTrigger = "manual" | "scheduled";

export type SyncSource = {
  /** The prefix under the tenant's area of the SOURCES bucket ("" or a path ending in "/"). */
  prefix: string;
  collection: string;
  attached_at: number;
  updated_at: number;
};

export interface SyncRun {
  /** The run's number: every key a complete listing of this run saw carries it. */
  generation: number;
  /** `cancelled`: the source was replaced while it ran. */
  state: "running" | "done" | "cancelled";
  trigger: SyncTrigger;
  /** Where the listing resumes (R2's cursor); null at its start. */
  cursor: string | null;
  /** The listing is complete: what is left is removing the keys it did not see. */
  listed: boolean;
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  failed: number;
  started_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface SyncStatus {
  source: SyncSource;
  /** The latest run, null before the first. */
  run: SyncRun | null;
  /** The keys that failed in that run, with their errors (`CODE: detail`). */
  failures: Array<{ key: string; error: string }>;
  /** Objects indexed from the source. */
  objects: number;
}

/** A run's lease, held by one queue message while it works on the run; every write under it renews it. */
export interface SyncLease {
  generation: number;
  holder: string;
  now: number;
  leaseMs: number;
}

/** Rows a statement wrote, once it has run to its end. */
const written = (cursor: SqlStorageCursor<Record<string, SqlStorageValue>>) => {
  cursor.toArray();
  return cursor.rowsWritten;
};

const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/**
 * How often the object wakes itself while it holds work a lost message or a failed call could
 * strand (a job not finished, vector ids to delete): when some of it needs repair (a job never
 * enqueued or stalled, a stale hold, vector ids due) it asks the ingest queue to sweep it
 * (`{ sweep: true }`, handled by IngestService.sweep), which re-enqueues what stalled and purges
 * what is due. The bound on how long such work waits for repair, beside each check's own window.
 */
export const SWEEP_INTERVAL_MS = 2 * 60_000;

/** How long an accept may take between storing its documents and its last queue send (or its hold's confirmation) before the sweep steps in. */
export const ENQUEUE_GRACE_MS = 2 * 60_000;

/** A completed copy from D1, as import_state.copied records it: its checksum and counts, and the object's writeFingerprint then. */
interface CompletedCopy extends RowDigest {
  written: string;
}

export class TenantData extends DurableObject<Bindings> {
  private readonly sql: SqlStorage;
  /** What this start's copy from D1 did, until copyFromD1 reports it. */
  private startCopy: TenantDataMigration | null = null;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // No call runs before the schema is current and the tenant's rows left in D1 are in.
    void ctx.blockConcurrencyWhile(async () => {
      migrateTenantSchema(ctx.storage);
      await this.adoptD1Rows();
    });
  }

  /**
   * When the tenant's object starts, its rows still in D1's shared tables (a deployment from before
   * issue 23) are copied in, checked, before any call runs (migrate-tenant-data.ts): no tenant is
   * ever seen empty or half copied after the switch, and a deployment needs no step of its own.
   * A start copies for at most TENANT_COPY_SLICE_MS (20 s; the platform stops a constructor's
   * blockConcurrencyWhile at 30 s): a larger tenant's start then fails, its calls answer 503, and
   * the next start, or `edge-rag migrate tenant-data`, goes on from where it stopped. Once copied,
   * a start reads one row; a tenant with nothing in D1 costs two D1 queries, once (its index version
   * and cache epoch carry over, so no answer cached before is matched again).
   */
  private async adoptD1Rows(): Promise<void> {
    const name = this.ctx.id.name;
    const mark = this.importMark();
    if (name === undefined || (mark !== null && mark !== COPYING)) return;
    // D1's rows are a one-shard tenant's: its object is shard 0's, named by the tenant.
    const { tenant, shard } = parseShardObjectName(name);
    if (shard !== 0) return;
    if (mark === null && !(await hasD1Data(this.env.DB, tenant))) {
      const unused = this.sql.exec("SELECT 1 FROM documents UNION ALL SELECT 1 FROM jobs LIMIT 1").toArray().length === 0;
      if (unused) this.importState(await d1State(this.env.DB, tenant));
      this.setImportMark("none");
      return;
    }
    const result = await this.copySlice(tenant);
    this.startCopy = result;
    // An object with data of its own is never overwritten; what D1 holds of it stays there, reported by the command.
    if (result.status === "in_use") this.setImportMark("in_use");
  }

  // ─── Ingest: accept ────────────────────────────────────────────────────────────────────────────

  /**
   * Records documents (status `queued`; a previous version stays searchable until its
   * replacement commits) and, with `job`, the job and its per-document rows, after checking the
   * storage quotas against the counters: all or nothing. Documents sent again unchanged (that
   * content is indexed and nothing else is pending) are left alone and count as skipped.
   */
  async accept(request: AcceptRequest): Promise<AcceptResult> {
    const cost = this.meter();
    let deliveries: string[] = [];
    const result = this.ctx.storage.transactionSync((): AcceptResult => {
      const usage = cost.one<{ documents: number; bytes: number; chunks: number; shards: number | null }>(
        "SELECT documents, bytes, chunks, shards FROM tenant",
      );
      const misplaced = request.shards === undefined ? null : this.checkShards(usage, request.shards);
      if (misplaced) return { ok: false, misplaced: true, detail: misplaced, cost: cost.total() };
      const existing = new Map(
        cost
          .all<{ id: string; content_hash: string; indexed_hash: string | null; bytes: number; file_key: string | null }>(
            "SELECT id, content_hash, indexed_hash, bytes, file_key FROM documents WHERE id IN (SELECT value FROM json_each(?1))",
            JSON.stringify(request.documents.map((document) => document.id)),
          )
          .map((row) => [row.id, row]),
      );
      let documentsAfter = usage.documents;
      let bytesAfter = usage.bytes;
      for (const document of request.documents) {
        const previous = existing.get(document.id);
        documentsAfter += previous ? 0 : 1;
        bytesAfter += utf8Bytes(document.text) + utf8Bytes(JSON.stringify(document.metadata)) - (previous?.bytes ?? 0);
      }
      const { quota } = request;
      const refuse = (refusal: Omit<QuotaRefusal, "ok">) => ({ ok: false as const, ...refusal, cost: cost.total() });
      const breach = storageQuotaBreach(usage, { documents: documentsAfter, bytes: bytesAfter }, quota);
      if (breach) return refuse(breach);

      const documents = request.documents.map((document) => {
        const previous = existing.get(document.id);
        // Unchanged only when no other version is pending either: then a re-send is a pure no-op.
        const unchanged =
          !request.reindex && previous !== undefined && previous.content_hash === document.hash && previous.indexed_hash === document.hash;
        const file = document.fileKey ?? null;
        // An unchanged document keeps its row, and so its original; a changed one lets go of the one it had.
        const replacedFile = !unchanged && previous?.file_key && previous.file_key !== file ? previous.file_key : null;
        return { id: document.id, unchanged, textLength: document.text.length, replacedFile };
      });
      const failed = request.job ? (request.failed ?? []) : [];
      const { now } = request;
      const jobId = request.job?.id ?? null;
      const { hold } = request;
      if (request.job) {
        const pending = documents.some((document) => !document.unchanged);
        // A job with nothing to index is finished (and has nothing to enqueue) at birth; a held one
        // is invisible and unsent until confirmHold.
        cost.run(
          `INSERT INTO jobs (id, status, documents, created_at, updated_at, finished_at, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?5)`,
          request.job.id,
          hold !== undefined ? "held" : pending ? "queued" : failed.length > 0 ? "failed" : "done",
          documents.length + failed.length,
          now,
          pending ? null : now,
        );
        for (const { id, error } of failed)
          cost.run(
            "INSERT INTO job_documents (job_id, document_id, status, content_hash, error, updated_at) VALUES (?1, ?2, 'failed', '', ?3, ?4)",
            request.job.id,
            id,
            error,
            now,
          );
      }
      for (const [position, document] of request.documents.entries()) {
        if (documents[position]!.unchanged) continue;
        if (hold !== undefined)
          cost.run(
            `INSERT INTO holds (hold_id, document_id, content_hash, previous, created_at)
             VALUES (?1, ?2, ?3, (SELECT json_object(${HELD_COLUMNS.map((column) => `'${column}', ${column}`).join(", ")}) FROM documents WHERE id = ?2), ?4)`,
            hold,
            document.id,
            document.hash,
            now,
          );
        // The same content sent again while pending keeps its revision, and its work in flight with it.
        cost.run(
          `INSERT INTO documents (id, collection, text, accepted_metadata, content_hash, revision, layout, file_key, status, job_id, created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10, ?10)
           ON CONFLICT (id) DO UPDATE SET
             collection = excluded.collection, text = excluded.text, accepted_metadata = excluded.accepted_metadata,
             revision = CASE WHEN documents.content_hash = excluded.content_hash THEN documents.revision ELSE excluded.revision END,
             content_hash = excluded.content_hash, layout = excluded.layout, file_key = excluded.file_key,
             status = 'queued', job_id = excluded.job_id, error = NULL, updated_at = excluded.updated_at`,
          ...acceptedRow(document),
          jobId,
          now,
        );
        // A re-index: a fresh revision (new chunk ids) even for the same content, and nothing counted as indexed at it yet.
        // An aborted hold does not restore indexed_hash (HELD_COLUMNS), which only costs one more indexing of that content.
        if (request.reindex)
          cost.run(
            "UPDATE documents SET revision = ?2, indexed_hash = NULL WHERE id = ?1",
            document.id,
            crypto.randomUUID().replaceAll("-", ""),
          );
        if (jobId)
          cost.run(
            "INSERT INTO job_documents (job_id, document_id, status, content_hash, updated_at) VALUES (?1, ?2, 'queued', ?3, ?4)",
            jobId,
            document.id,
            document.hash,
            now,
          );
      }
      if (jobId)
        for (const [position, document] of request.documents.entries()) {
          if (!documents[position]!.unchanged) continue;
          cost.run(
            "INSERT INTO job_documents (job_id, document_id, status, content_hash, updated_at) VALUES (?1, ?2, 'skipped', ?3, ?4)",
            jobId,
            document.id,
            document.hash,
            now,
          );
        }
      // A job with nothing to index finished at birth: its event, recorded with it.
      if (request.job) deliveries = this.recordFinishedJob(request.job.id, now);
      return { ok: true, documents, cost: cost.total() };
    });
    await this.sendDeliveries(deliveries);
    if (result.ok && (request.hold !== undefined || (request.job && result.documents.some((document) => !document.unchanged))))
      await this.wakeBy(request.now + SWEEP_INTERVAL_MS);
    return result;
  }

  /**
   * The second phase of an accept that spans shards (tenant-data-port.ts), once every shard has
   * accepted its part under `hold`: the held job becomes visible and can be sent. Idempotent.
   */
  confirmHold(hold: string): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `UPDATE jobs SET status = CASE WHEN finished_at IS NULL THEN 'queued'
           WHEN EXISTS (SELECT 1 FROM job_documents WHERE job_id = ?1 AND status = 'failed') THEN 'failed' ELSE 'done' END
         WHERE id = ?1 AND status = 'held'`,
        hold,
      );
      this.sql.exec("DELETE FROM holds WHERE hold_id = ?1", hold);
    });
  }

  /**
   * Undoes an accept made under `hold` (another shard refused its part, or the worker never came
   * back: abortStaleHolds): each held document goes back to the row it replaced, or away if it was
   * new, unless a later accept has written it since (its content differs); the held job goes.
   * Idempotent.
   */
  abortHold(hold: string): void {
    const restored = HELD_COLUMNS.map((column) => `${column} = json_extract(h.previous, '$.${column}')`).join(", ");
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `DELETE FROM documents WHERE id IN (
           SELECT h.document_id FROM holds h WHERE h.hold_id = ?1 AND h.previous IS NULL AND h.content_hash = documents.content_hash)`,
        hold,
      );
      this.sql.exec(
        `UPDATE documents SET ${restored} FROM holds h
         WHERE h.hold_id = ?1 AND h.document_id = documents.id AND h.previous IS NOT NULL AND h.content_hash = documents.content_hash`,
        hold,
      );
      this.sql.exec("DELETE FROM job_documents WHERE job_id = ?1 AND EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND status = 'held')", hold);
      this.sql.exec("DELETE FROM jobs WHERE id = ?1 AND status = 'held'", hold);
      this.sql.exec("DELETE FROM holds WHERE hold_id = ?1", hold);
    });
  }

  /** Aborts the holds older than `before`: accepts whose worker never confirmed or aborted them. Returns how many. */
  abortStaleHolds(before: number): number {
    const holds = this.sql
      .exec<{ id: string }>(
        "SELECT hold_id AS id FROM holds WHERE created_at < ?1 UNION SELECT id FROM jobs WHERE status = 'held' AND created_at < ?1",
        before,
      )
      .toArray();
    for (const { id } of holds) this.abortHold(id);
    return holds.length;
  }

  // ─── Ingest: index ─────────────────────────────────────────────────────────────────────────────

  /** Each target's current row; targets deleted, superseded by newer content or already indexed are settled here. */
  loadWork(targets: IndexTarget[]): { work: LoadedDocument[]; skipped: Skipped[] } {
    const current = new Map(
      this.sql
        .exec<LoadedDocument & Record<string, string | null>>(
          `SELECT id, collection, text, accepted_metadata AS metadata, layout, content_hash, revision, indexed_hash FROM documents
           WHERE id IN (SELECT value FROM json_each(?1))`,
          JSON.stringify(targets.map((target) => target.documentId)),
        )
        .toArray()
        .map((row) => [row.id, row as LoadedDocument]),
    );
    return sortTargets(targets, current);
  }

  /**
   * The chunk quota, known once documents are chunked: documents are admitted in order while the
   * tenant's chunks (each document's replacing its previous version's) stay within `maxChunks`.
   */
  admitChunks(
    documents: Array<{ id: string; chunks: number }>,
    maxChunks: number,
  ): { admitted: string[]; overQuota: Array<{ id: string; error: string }> } {
    let total = this.sql.exec<{ chunks: number }>("SELECT chunks FROM tenant").one().chunks;
    const admitted: string[] = [];
    const overQuota: Array<{ id: string; error: string }> = [];
    for (const document of documents) {
      const after = total - this.chunkCount(document.id) + document.chunks;
      if (after <= maxChunks) {
        admitted.push(document.id);
        total = after;
      } else {
        overQuota.push({
          id: document.id,
          error: `QUOTA_EXCEEDED: its ${document.chunks} chunks would take the tenant to ${after}; its chunk quota is ${maxChunks}`,
        });
      }
    }
    return { admitted, overQuota };
  }

  /** Records vector ids about to be upserted, due for deletion at `dueAt` unless a commit gives them chunks first. */
  async recordPendingVectors(ids: string[], dueAt: number): Promise<void> {
    this.sql.exec(
      `INSERT INTO vector_deletions (id, created_at) SELECT value, ?2 FROM json_each(?1) WHERE true
       ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at`,
      JSON.stringify(ids),
      dueAt,
    );
    await this.wakeBy(dueAt);
  }

  /**
   * The indexing commit, all or nothing: each ready document still at its version gets its new
   * chunks (its old ones' vector ids recorded for deletion) and is marked indexed with the
   * metadata it was embedded with; a ready document no longer at its version is superseded (its
   * fresh vector ids recorded for deletion); failures, skips and the job's status are recorded;
   * the index version moves once when anything was indexed. Refused whole (`chunk_quota`) when
   * the chunks would exceed `maxChunks`: the caller retries and is admitted against what is stored.
   */
  async commit(request: CommitRequest): Promise<CommitResult> {
    let deliveries: string[] = [];
    const result = this.ctx.storage.transactionSync((): CommitResult => {
      const { now, jobId } = request;
      const held = request.ready.filter((ready) => this.atVersion(ready.id, ready.contentHash, ready.revision));
      const superseded = request.ready.filter((ready) => !held.includes(ready));
      let chunks = this.sql.exec<{ chunks: number }>("SELECT chunks FROM tenant").one().chunks;
      for (const ready of held) chunks += ready.chunks.length - this.chunkCount(ready.id);
      if (chunks > request.maxChunks) return { ok: false, reason: "chunk_quota" };

      for (const ready of held) this.replaceChunks(ready, now, jobId);
      if (held.length > 0)
        this.sql.exec(
          "UPDATE tenant SET index_version = index_version + 1, embedding_model = COALESCE(?1, embedding_model)",
          request.model,
        );
      for (const failed of request.failed) {
        this.sql.exec(
          "UPDATE documents SET status = 'failed', error = ?3, updated_at = ?4 WHERE id = ?1 AND content_hash = ?2 AND indexed_hash IS NOT content_hash",
          failed.id,
          failed.contentHash,
          failed.error,
          now,
        );
        if (jobId) this.settleJobDocument(jobId, failed.id, "failed", failed.error, now);
      }
      const lost = superseded.flatMap((ready) => ready.chunks.map((chunk) => chunk.id));
      if (lost.length > 0) this.recordDeletions(lost, now);

      const skipped = [...request.skipped, ...superseded.map((ready) => ({ id: ready.id, reason: "superseded" as const }))];
      if (jobId) for (const skip of skipped) this.settleJobDocument(jobId, skip.id, "skipped", null, now);
      // Sent back to its indexed content while a newer version was pending, a document was marked
      // queued with nothing left to index: it is indexed again, as it was.
      for (const skip of request.skipped.filter(({ reason }) => reason === "unchanged"))
        this.sql.exec(
          "UPDATE documents SET status = 'indexed', error = NULL, updated_at = ?2 WHERE id = ?1 AND status <> 'indexed' AND content_hash = indexed_hash",
          skip.id,
          now,
        );
      if (jobId) deliveries = this.finalizeJob(jobId, now);

      const outcomes: DocumentOutcome[] = [
        ...held.map((ready): DocumentOutcome => ({ document_id: ready.id, status: "done", chunks: ready.chunks.length })),
        ...request.failed.map((failed): DocumentOutcome => ({ document_id: failed.id, status: "failed", error: failed.error })),
        ...skipped.map((skip): DocumentOutcome => ({ document_id: skip.id, status: "skipped", reason: skip.reason })),
      ];
      return { ok: true, outcomes, indexVersion: this.indexVersion() };
    });
    // Replaced and lost chunks' vectors are purged by the caller; should that fail, the sweep does.
    // With nothing left to repair the object needs no wake-up, and the accept's is cancelled: it
    // would open thousands of objects 2 minutes after their tenants' ingests, for nothing. Set
    // before the deliveries are sent, so that a failed send is repaired.
    if (result.ok) {
      if (this.pendingWork().any) await this.wakeBy(request.now + SWEEP_INTERVAL_MS);
      else await this.ctx.storage.deleteAlarm();
    }
    await this.sendDeliveries(deliveries);
    return result;
  }

  // ─── Ingest: job bookkeeping (the queue consumers and the sweep) ────────────────────────────────

  /** The job's documents that no consumer has finished (of `documentIds`, or all), with the content each was asked to index. */
  pendingJobDocuments(jobId: string, documentIds?: string[]): Array<{ documentId: string; contentHash: string; textLength: number }> {
    return this.sql
      .exec<{ documentId: string; contentHash: string; textLength: number }>(
        `SELECT jd.document_id AS documentId, jd.content_hash AS contentHash, COALESCE(length(d.text), 0) AS textLength
         FROM job_documents jd LEFT JOIN documents d ON d.id = jd.document_id
         WHERE jd.job_id = ?1 AND jd.status = 'queued' AND (?2 IS NULL OR jd.document_id IN (SELECT value FROM json_each(?2)))
         ORDER BY jd.document_id`,
        jobId,
        documentIds ? JSON.stringify(documentIds) : null,
      )
      .toArray();
  }

  /** `queued` → `processing` when a consumer picks up the first message of a job. */
  markProcessing(jobId: string, now: number): void {
    this.sql.exec("UPDATE jobs SET status = 'processing', updated_at = ?2 WHERE id = ?1 AND status = 'queued'", jobId, now);
  }

  /** Remembers a failed attempt (the error shown if the job finally gives up); the documents stay queued. */
  recordAttempt(jobId: string, documentIds: string[], attempt: number, error: string, now: number): void {
    this.sql.exec(
      `UPDATE job_documents SET attempts = MAX(attempts, ?2), error = ?3, updated_at = ?4
       WHERE job_id = ?1 AND status = 'queued' AND document_id IN (SELECT value FROM json_each(?5))`,
      jobId,
      attempt,
      error,
      now,
      JSON.stringify(documentIds),
    );
  }

  /**
   * The dead-letter verdict for documents whose messages ran out of retries: `failed` with the last
   * error when that content is still the document's current, unindexed content; otherwise `skipped`.
   */
  async giveUp(jobId: string, documentIds: string[], now: number): Promise<void> {
    const ids = JSON.stringify(documentIds);
    const giveUp = `'gave up after ' || MAX(attempts, 1) || ' attempt(s); last error: ' || COALESCE(error, 'unknown error')`;
    const current = `EXISTS (SELECT 1 FROM documents d WHERE d.id = job_documents.document_id
                       AND d.content_hash = job_documents.content_hash AND d.indexed_hash IS NOT d.content_hash)`;
    const deliveries = this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `UPDATE documents SET status = 'failed', updated_at = ?3,
           error = (SELECT ${giveUp} FROM job_documents WHERE job_id = ?1 AND document_id = documents.id)
         WHERE indexed_hash IS NOT content_hash AND id IN (
           SELECT document_id FROM job_documents WHERE job_id = ?1 AND status = 'queued' AND content_hash = documents.content_hash
             AND document_id IN (SELECT value FROM json_each(?2)))`,
        jobId,
        ids,
        now,
      );
      this.sql.exec(
        `UPDATE job_documents SET status = 'failed', error = ${giveUp}, updated_at = ?3
         WHERE job_id = ?1 AND status = 'queued' AND document_id IN (SELECT value FROM json_each(?2)) AND ${current}`,
        jobId,
        ids,
        now,
      );
      this.sql.exec(
        `UPDATE job_documents SET status = 'skipped', error = NULL, updated_at = ?3
         WHERE job_id = ?1 AND status = 'queued' AND document_id IN (SELECT value FROM json_each(?2))`,
        jobId,
        ids,
        now,
      );
      return this.finalizeJob(jobId, now);
    });
    await this.sendDeliveries(deliveries);
  }

  /** Records that the job's messages are on the queue; `resent` (the sweep's), so that a stalled job is sent again at most once per window, with its status recomputed. */
  async markEnqueued(jobId: string, now: number, options: { resent?: boolean } = {}): Promise<void> {
    const deliveries = this.ctx.storage.transactionSync(() => {
      this.sql.exec(`UPDATE jobs SET enqueued_at = ?2 WHERE id = ?1 ${options.resent ? "" : "AND enqueued_at IS NULL"}`, jobId, now);
      return options.resent ? this.finalizeJob(jobId, now) : [];
    });
    await this.sendDeliveries(deliveries);
  }

  /**
   * Jobs whose messages may never have reached the queue (created before `notEnqueuedBefore`, never
   * marked enqueued), and jobs with documents still queued, enqueued before `stalledBefore` and
   * without document progress since (their messages were lost): what the sweep enqueues again.
   */
  jobsToEnqueue(notEnqueuedBefore: number, stalledBefore: number, limit: number): { unenqueued: string[]; stalled: string[] } {
    const ids = (sql: string, ...bindings: unknown[]) =>
      this.sql
        .exec<{ id: string }>(sql, ...bindings)
        .toArray()
        .map((row) => row.id);
    return {
      unenqueued: ids(
        "SELECT id FROM jobs WHERE enqueued_at IS NULL AND status <> 'held' AND created_at < ?1 ORDER BY created_at LIMIT ?2",
        notEnqueuedBefore,
        limit,
      ),
      stalled: ids(
        `SELECT j.id FROM jobs j
         WHERE j.status IN ('queued', 'processing') AND j.enqueued_at IS NOT NULL AND j.enqueued_at < ?1
           AND EXISTS (SELECT 1 FROM job_documents d WHERE d.job_id = j.id AND d.status = 'queued')
           AND NOT EXISTS (SELECT 1 FROM job_documents d WHERE d.job_id = j.id AND d.updated_at >= ?1)
         ORDER BY j.created_at LIMIT ?2`,
        stalledBefore,
        limit,
      ),
    };
  }

  // ─── Ingest: remove ────────────────────────────────────────────────────────────────────────────

  /** Deletes a document and its chunks, records their vector ids for deletion and bumps the index version. False when there is no such document. */
  async remove(id: string, now: number): Promise<boolean> {
    const removed = this.ctx.storage.transactionSync(() => {
      if (this.sql.exec("SELECT 1 FROM documents WHERE id = ?1", id).toArray().length === 0) return false;
      this.sql.exec("INSERT OR IGNORE INTO vector_deletions (id, created_at) SELECT id, ?2 FROM chunks WHERE document_id = ?1", id, now);
      this.sql.exec("DELETE FROM chunks WHERE document_id = ?1", id);
      this.sql.exec("DELETE FROM documents WHERE id = ?1", id);
      this.sql.exec("UPDATE tenant SET index_version = index_version + 1");
      // A document bucket sync made, deleted by id: the next run indexes its object again (the bucket is the source).
      this.forgetSyncDocument(id);
      return true;
    });
    if (removed) await this.wakeBy(now + SWEEP_INTERVAL_MS);
    return removed;
  }

  /** Recorded vector ids due for deletion (none of them a live chunk's), oldest first. */
  dueVectorDeletions(now: number, limit: number): string[] {
    return this.sql
      .exec<{ id: string }>(
        `SELECT v.id FROM vector_deletions v WHERE v.created_at <= ?1 AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id = v.id)
         ORDER BY v.created_at LIMIT ?2`,
        now,
        limit,
      )
      .toArray()
      .map((row) => row.id);
  }

  /** Forgets recorded ids once the vector index deleted them (and any that are live chunks again). */
  forgetVectorDeletions(ids: string[]): void {
    this.sql.exec("DELETE FROM vector_deletions WHERE id IN (SELECT value FROM json_each(?1))", JSON.stringify(ids));
  }

  // ─── Retrieval ─────────────────────────────────────────────────────────────────────────────────

  /**
   * BM25 over the tenant's own FTS5 index with the whole filter applied in the same statement,
   * and, with `hydrate`, the hits' chunks in the same call. `match` must come from
   * toFtsMatchExpression (never raw user text).
   */
  keywordSearch(request: { match: string; plan: FilterPlan; limit: number; hydrate?: boolean }): {
    hits: KeywordHit[];
    chunks: TenantChunk[];
  } {
    const params = createSqlParams();
    const match = params.add(request.match);
    const where = filterSql(request.plan, params);
    const limit = params.add(request.limit);
    const rows = this.sql
      .exec<ChunkRow & { bm25: number }>(
        `SELECT c.id AS id, -bm25(kw, 1, ${TITLE_WEIGHT}) AS bm25, c.document_id, c.collection, c.chunk_index, c.text, c.page, c.section, d.metadata
         FROM kw JOIN chunks c ON c.seq = kw.rowid JOIN documents d ON d.id = c.document_id
         WHERE kw MATCH ${match} AND ${where}
         ORDER BY bm25(kw, 1, ${TITLE_WEIGHT}), c.seq LIMIT ${limit}`,
        ...params.values,
      )
      .toArray();
    return {
      hits: rows.map((row) => ({ id: row.id, bm25: row.bm25 })),
      chunks: request.hydrate ? rows.map(({ bm25: _, ...row }) => ({ ...row, metadata: parseMetadata(row.metadata) })) : [],
    };
  }

  /** The chunks among `ids` that still exist and satisfy the whole filter (order not meaningful). */
  hydrate(request: { ids: readonly string[]; plan: FilterPlan }): TenantChunk[] {
    if (request.ids.length === 0) return [];
    const { sql, params } = hydrationQuery(request);
    return this.sql
      .exec<ChunkRow>(sql, ...params)
      .toArray()
      .map((row) => ({ ...row, metadata: parseMetadata(row.metadata) }));
  }

  /** How many of `ids` (distinct) are chunks the object holds. */
  countChunks(ids: readonly string[]): number {
    if (ids.length === 0) return 0;
    return this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE id IN (SELECT DISTINCT value FROM json_each(?1))", JSON.stringify(ids))
      .one().n;
  }

  // ─── Reads ─────────────────────────────────────────────────────────────────────────────────────

  /** Counters, collections, index version, cache epoch and embedding model: reads the counter rows only. */
  stats(): TenantDataStats {
    const row = this.sql
      .exec<Omit<TenantDataStats, "collections">>(
        "SELECT documents, chunks, bytes, index_version, cache_epoch, embedding_model FROM tenant",
      )
      .one();
    const { collections } = this.sql.exec<{ collections: number }>("SELECT COUNT(*) AS collections FROM collections").one();
    return { ...row, collections };
  }

  /** The collections that have a document, in name order (`only`: that one, if it has). */
  collections(options: { only?: string; limit: number }): string[] {
    return this.sql
      .exec<{ name: string }>(
        "SELECT name FROM collections WHERE ?1 IS NULL OR name = ?1 ORDER BY name LIMIT ?2",
        options.only ?? null,
        options.limit,
      )
      .toArray()
      .map((row) => row.name);
  }

  /** Starts a new cache epoch: every cached result of the tenant stops matching. */
  bumpCacheEpoch(): number {
    return this.sql.exec<{ cache_epoch: number }>("UPDATE tenant SET cache_epoch = cache_epoch + 1 RETURNING cache_epoch").one()
      .cache_epoch;
  }

  /** The document as last accepted (its metadata included), with the state of its indexing. */
  getDocument(id: string): StoredDocument | null {
    const row = this.sql
      .exec<Record<string, string | number | null>>(
        `SELECT id, collection, text, accepted_metadata AS metadata, content_hash, indexed_hash, status, chunk_count, job_id, error, created_at, updated_at
         FROM documents WHERE id = ?1`,
        id,
      )
      .toArray()[0];
    return row ? ({ ...row, metadata: JSON.parse(row.metadata as string) } as StoredDocument) : null;
  }

  /** The key of the document's original file in the files bucket; null when it has none (or there is no such document). */
  fileKey(id: string): string | null {
    return this.sql.exec<{ file_key: string | null }>("SELECT file_key FROM documents WHERE id = ?1", id).toArray()[0]?.file_key ?? null;
  }

  /**
   * What a re-index rebuilds each document from, a page in id order (keyset pagination): its
   * accepted version (text, metadata, layout) and its original's key. `ids` reads those documents
   * (missing ones are absent), else the collection's (or every) document after `after`.
   */
  reindexSources(options: { collection?: string; ids?: string[]; after?: string; limit: number }): {
    documents: ReindexSource[];
    nextAfter: string | null;
  } {
    const columns = "id, collection, text, accepted_metadata AS metadata, layout, file_key";
    const rows =
      options.ids !== undefined
        ? this.sql
            .exec<Record<string, string | null>>(
              `SELECT ${columns} FROM documents WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id LIMIT ?2`,
              JSON.stringify(options.ids),
              options.limit,
            )
            .toArray()
        : this.sql
            .exec<Record<string, string | null>>(
              `SELECT ${columns} FROM documents WHERE id > ?1 AND (?2 IS NULL OR collection = ?2) ORDER BY id LIMIT ?3`,
              options.after ?? "",
              options.collection ?? null,
              // One row more than the page tells whether another page follows.
              options.limit + 1,
            )
            .toArray();
    const page = rows.slice(0, options.limit).map(
      (row): ReindexSource => ({
        id: row.id!,
        collection: row.collection!,
        text: row.text!,
        metadata: parseMetadata(row.metadata!),
        layout: row.layout ?? null,
        fileKey: row.file_key ?? null,
      }),
    );
    return { documents: page, nextAfter: rows.length > options.limit ? (page.at(-1)?.id ?? null) : null };
  }

  /** One page of documents in id order (keyset pagination), without their text. */
  listDocuments(options: { collection?: string; status?: StoredDocument["status"]; after?: string; limit: number }): {
    documents: DocumentSummary[];
    nextAfter: string | null;
  } {
    const rows = this.sql
      .exec<Record<string, string | number | null>>(
        `SELECT id, collection, accepted_metadata AS metadata, status, chunk_count, job_id, error, created_at, updated_at
         FROM documents WHERE id > ?1 AND (?2 IS NULL OR collection = ?2) AND (?3 IS NULL OR status = ?3)
         ORDER BY id LIMIT ?4`,
        options.after ?? "",
        options.collection ?? null,
        options.status ?? null,
        // One row more than the page tells whether another page follows.
        options.limit + 1,
      )
      .toArray();
    const page = rows.slice(0, options.limit).map((row) => ({ ...row, metadata: JSON.parse(row.metadata as string) }) as DocumentSummary);
    return { documents: page, nextAfter: rows.length > options.limit ? (page.at(-1)?.id ?? null) : null };
  }

  /** The job with its per-document counts and failures; null for an unknown id. */
  job(id: string): JobView | null {
    const job = this.sql
      .exec<Record<string, string | number | null>>(
        "SELECT id, status, documents, created_at, updated_at, finished_at FROM jobs WHERE id = ?1 AND status <> 'held'",
        id,
      )
      .toArray()[0];
    if (!job) return null;
    const byStatus = new Map(
      this.sql
        .exec<{ status: string; n: number; chunks: number | null }>(
          "SELECT status, COUNT(*) AS n, SUM(chunks) AS chunks FROM job_documents WHERE job_id = ?1 GROUP BY status",
          id,
        )
        .toArray()
        .map((row) => [row.status, row]),
    );
    const errors = this.sql
      .exec<{ document_id: string; error: string | null }>(
        "SELECT document_id, error FROM job_documents WHERE job_id = ?1 AND status = 'failed' ORDER BY document_id LIMIT ?2",
        id,
        JOB_OUTCOMES_LISTED,
      )
      .toArray()
      .map((row) => ({ document_id: row.document_id, error: row.error ?? "unknown error" }));
    const outcomes = this.sql
      .exec<{ document_id: string; status: JobOutcome["status"]; chunks: number; error: string | null }>(
        "SELECT document_id, status, chunks, error FROM job_documents WHERE job_id = ?1 ORDER BY document_id LIMIT ?2",
        id,
        JOB_OUTCOMES_LISTED,
      )
      .toArray()
      .map(
        ({ document_id, status, chunks, error }): JobOutcome => ({
          document_id,
          status,
          ...(status === "done" ? { chunks } : {}),
          ...(status === "failed" ? { error: error ?? "unknown error" } : {}),
        }),
      );
    return {
      ...(job as Pick<JobView, "id" | "status" | "documents" | "created_at" | "updated_at" | "finished_at">),
      processed: byStatus.get("done")?.n ?? 0,
      skipped: byStatus.get("skipped")?.n ?? 0,
      failed: byStatus.get("failed")?.n ?? 0,
      queued: byStatus.get("queued")?.n ?? 0,
      chunks: byStatus.get("done")?.chunks ?? 0,
      errors,
      outcomes,
      index_version: this.indexVersion(),
    };
  }

  // ─── Import from D1 (edge-rag migrate tenant-data) ─────────────────────────────────────────────

  /**
   * `edge-rag migrate tenant-data` for this tenant. Its call starts the object, and a start copies
   * the tenant's rows from D1 before any call runs (adoptD1Rows): that copy is the one reported,
   * as `copied`, not the check after it, which would find it `unchanged`.
   */
  async copyFromD1(tenant: string): Promise<TenantDataMigration> {
    const done = this.startCopy;
    this.startCopy = null;
    // As at a start, no other call runs while a copy writes the object (or a rerun reads D1).
    return done ?? (await this.ctx.blockConcurrencyWhile(() => this.copySlice(tenant)));
  }

  /**
   * One slice of the copy (TENANT_COPY_SLICE_MS). A slice that leaves the copy half written
   * (`copying`) or not matching D1 (`changed`: a worker from before the switch wrote meanwhile)
   * resets the object, after making its progress durable (a reset drops writes not yet flushed),
   * so that no call sees those rows: the next start goes on with the copy, or starts it again,
   * before any call runs. A rerun's check of a completed copy (`copying` in its recheck) leaves
   * the object serving.
   */
  private async copySlice(tenant: string): Promise<TenantDataMigration> {
    const result = await migrateTenantData(this.env.DB, this, tenant, Date.now() + loadConfig(this.env).TENANT_COPY_SLICE_MS);
    if ((result.status === "copying" || result.status === "changed") && this.importMark() === COPYING) {
      await this.ctx.storage.sync();
      throw new Error(`${COPY_UNFINISHED} ${JSON.stringify(result)}`);
    }
    return result;
  }

  /** Writes one page of rows copied from D1 (columns as TENANT_TABLES declares) and the place the copy reached, in one transaction. */
  importRows(table: TenantTable, rows: TenantRow[], progress: CopyProgress): void {
    const { columns } = TENANT_TABLES[table];
    const sql = `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((_, i) => `?${i + 1}`).join(", ")})`;
    this.ctx.storage.transactionSync(() => {
      for (const row of rows) this.sql.exec(sql, ...row);
      // Jobs that finished before the copy finished before webhooks could hear of them.
      if (table === "jobs")
        this.sql.exec("UPDATE jobs SET notified_at = finished_at WHERE notified_at IS NULL AND finished_at IS NOT NULL");
      this.recordProgress(progress);
    });
  }

  /** The tenant's index version, cache epoch and embedding model as D1 had them. */
  importState(state: TenantStateRow): void {
    this.sql.exec(
      "UPDATE tenant SET index_version = ?1, cache_epoch = ?2, embedding_model = ?3",
      state.index_version,
      state.cache_epoch,
      state.embedding_model,
    );
  }

  /** The object's rows per table (one COUNT each). */
  tableCounts(): Record<TenantTable, number> {
    return Object.fromEntries(
      TENANT_TABLE_NAMES.map((table) => [table, this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n]),
    ) as Record<TenantTable, number>;
  }

  /** The import mark: null (never looked at D1), "none", COPYING, DELETED, "in_use", or a completed copy's checksum. */
  importMark(): string | null {
    return this.sql.exec<{ digest: string }>("SELECT digest FROM import_state").toArray()[0]?.digest ?? null;
  }

  setImportMark(mark: string): void {
    this.sql.exec(
      "INSERT INTO import_state (id, digest, completed_at) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, completed_at = excluded.completed_at",
      mark,
      Date.now(),
    );
  }

  copyProgress(): CopyProgress | null {
    const progress = this.sql.exec<{ progress: string | null }>("SELECT progress FROM import_state").toArray()[0]?.progress;
    return progress ? (JSON.parse(progress) as CopyProgress) : null;
  }

  async beginCopy(progress: CopyProgress): Promise<void> {
    await this.destroy();
    this.ctx.storage.transactionSync(() => {
      this.setImportMark(COPYING);
      this.recordProgress(progress);
    });
  }

  recordProgress(progress: CopyProgress | null): void {
    this.sql.exec("UPDATE import_state SET progress = ?1", progress === null ? null : JSON.stringify(progress));
  }

  completeCopy(copied: RowDigest): void {
    this.ctx.storage.transactionSync(() => {
      this.setImportMark(copied.digest);
      const record: CompletedCopy = { ...copied, written: this.writeFingerprint() };
      this.sql.exec("UPDATE import_state SET progress = NULL, copied = ?1", JSON.stringify(record));
    });
  }

  writtenSinceCopy(): boolean {
    const copied = this.sql.exec<{ copied: string | null }>("SELECT copied FROM import_state").toArray()[0]?.copied;
    return !copied || (JSON.parse(copied) as Partial<CompletedCopy>).written !== this.writeFingerprint();
  }

  /**
   * What the tenant's writes change: every table's row count (webhooks, sync and holds included;
   * the keyword index and the import bookkeeping aside) and the tenant row (index version, cache
   * epoch, usage counters). A copy fills an emptied object, so anything made since adds a row, and
   * every commit and removal bumps the index version: an object written since its copy does not
   * match, however its counts end up.
   */
  private writeFingerprint(): string {
    const tables = this.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('import_state', 'schema_version') AND name NOT LIKE 'kw%' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_cf%' ESCAPE '\\' ORDER BY name",
      )
      .toArray();
    const counts = tables.map(({ name }) => [name, this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`).one().n]);
    return JSON.stringify({ counts, tenant: this.sql.exec("SELECT * FROM tenant").one() });
  }

  // ─── Webhooks (shard 0, the tenant's own object, holds them) ──────────────────────────────────

  /** Registers a webhook unless the tenant has `max` already (checked and written in one transaction). */
  createWebhook(request: {
    id: string;
    url: string;
    events: WebhookEvent[];
    secret: string;
    max: number;
    now: number;
  }): { ok: true; webhook: WebhookView } | { ok: false; count: number } {
    return this.ctx.storage.transactionSync(() => {
      const { n } = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM webhooks").one();
      if (n >= request.max) return { ok: false as const, count: n };
      this.sql.exec(
        "INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        request.id,
        request.url,
        JSON.stringify(request.events),
        request.secret,
        request.now,
      );
      return { ok: true as const, webhook: { id: request.id, url: request.url, events: request.events, created_at: request.now } };
    });
  }

  /** The tenant's webhooks, oldest first, without their secrets. */
  listWebhooks(): WebhookView[] {
    return this.sql
      .exec<{ id: string; url: string; events: string; created_at: number }>(
        "SELECT id, url, events, created_at FROM webhooks ORDER BY created_at, id",
      )
      .toArray()
      .map((row) => ({ ...row, events: JSON.parse(row.events) as WebhookEvent[] }));
  }

  webhook(id: string): WebhookView | null {
    const row = this.sql
      .exec<{ id: string; url: string; events: string; created_at: number }>(
        "SELECT id, url, events, created_at FROM webhooks WHERE id = ?1",
        id,
      )
      .toArray()[0];
    return row ? { ...row, events: JSON.parse(row.events) as WebhookEvent[] } : null;
  }

  /** Deletes a webhook and its deliveries log: a delivery still queued finds it gone and is dropped. False when there is none. */
  deleteWebhook(id: string): boolean {
    return this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM webhook_deliveries WHERE webhook_id = ?1", id);
      return this.sql.exec("DELETE FROM webhooks WHERE id = ?1", id).rowsWritten > 0;
    });
  }

  /** One page of a webhook's deliveries, newest first (keyset on the delivery's sequence); null when there is no such webhook. */
  listDeliveries(
    webhookId: string,
    options: { before?: number; limit: number },
  ): { deliveries: DeliveryView[]; nextBefore: number | null } | null {
    if (this.sql.exec("SELECT 1 FROM webhooks WHERE id = ?1", webhookId).toArray().length === 0) return null;
    const rows = this.sql
      .exec<DeliveryView & { seq: number } & Record<string, SqlStorageValue>>(
        `SELECT seq, id, event, job_id, status, attempts, last_status_code, last_error, created_at, delivered_at
         FROM webhook_deliveries WHERE webhook_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3`,
        webhookId,
        options.before ?? Number.MAX_SAFE_INTEGER,
        // One row more than the page tells whether another page follows.
        options.limit + 1,
      )
      .toArray();
    const page = rows.slice(0, options.limit);
    return {
      deliveries: page.map(({ seq: _, ...delivery }) => delivery as DeliveryView),
      nextBefore: rows.length > options.limit ? (page.at(-1)?.seq ?? null) : null,
    };
  }

  /** A delivery with its webhook's target and secret; null when the webhook (and so the delivery) is gone. */
  deliveryToSend(id: string): DeliveryToSend | null {
    return (
      this.sql
        .exec<DeliveryToSend & Record<string, SqlStorageValue>>(
          `SELECT d.id, d.webhook_id, w.url, w.secret, d.payload, d.status, d.attempts
           FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?1`,
          id,
        )
        .toArray()[0] ?? null
    );
  }

  /**
   * Records one attempt of a pending delivery: delivered, or its status code / error kept, and
   * `failed` once it has made `maxAttempts`. A delivery already settled is left as it is (a
   * redelivered message); null when it is gone (its webhook deleted).
   */
  recordDeliveryAttempt(
    id: string,
    attempt: { delivered: boolean; statusCode: number | null; error: string | null; maxAttempts: number; now: number },
  ): { status: DeliveryStatus; attempts: number } | null {
    const updated = this.sql
      .exec<{ status: DeliveryStatus; attempts: number }>(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = ?2, last_error = ?3,
           status = CASE WHEN ?4 THEN 'delivered' WHEN attempts + 1 >= ?5 THEN 'failed' ELSE 'pending' END,
           delivered_at = CASE WHEN ?4 THEN ?6 ELSE NULL END
         WHERE id = ?1 AND status = 'pending' RETURNING status, attempts`,
        id,
        attempt.statusCode,
        attempt.error,
        attempt.delivered ? 1 : 0,
        attempt.maxAttempts,
        attempt.now,
      )
      .toArray()[0];
    return (
      updated ??
      this.sql
        .exec<{ status: DeliveryStatus; attempts: number }>("SELECT status, attempts FROM webhook_deliveries WHERE id = ?1", id)
        .toArray()[0] ??
      null
    );
  }

  /**
   * Records a finished job's event for a tenant of several shards (tenant-data-port.ts
   * settleJobEvent: `job` is the job as all its shards report it), then enqueues its deliveries:
   * one per subscribed webhook, each recorded at most once, however often this is called.
   * Returns how many were recorded now.
   */
  async recordJobEvent(job: JobView, now: number): Promise<number> {
    const deliveries = this.ctx.storage.transactionSync(() => {
      const ids = this.insertEvent(job, now);
      this.sql.exec("UPDATE jobs SET notified_at = ?2 WHERE id = ?1 AND notified_at IS NULL", job.id, now);
      return ids;
    });
    await this.sendDeliveries(deliveries);
    return deliveries.length;
  }

  /** Marks this shard's part of a job as notified (its event recorded by shard 0). */
  markJobNotified(jobId: string, now: number): void {
    this.sql.exec("UPDATE jobs SET notified_at = ?2 WHERE id = ?1 AND notified_at IS NULL AND finished_at IS NOT NULL", jobId, now);
  }

  /** Whether this shard's part of the job finished and its event is not recorded yet. */
  jobAwaitingEvent(jobId: string): boolean {
    return (
      this.sql
        .exec("SELECT 1 FROM jobs WHERE id = ?1 AND finished_at IS NOT NULL AND notified_at IS NULL AND status <> 'held'", jobId)
        .toArray().length > 0
    );
  }

  /** Jobs whose part here finished before `before` with their event not recorded (a worker that never came back): what the sweep settles. */
  jobsAwaitingEvent(before: number, limit: number): string[] {
    return this.sql
      .exec<{ id: string }>(
        `SELECT id FROM jobs WHERE notified_at IS NULL AND finished_at IS NOT NULL AND finished_at < ?1 AND status <> 'held'
         ORDER BY finished_at LIMIT ?2`,
        before,
        limit,
      )
      .toArray()
      .map((row) => row.id);
  }

  // ─── Tenant deletion ───────────────────────────────────────────────────────────────────────────

  /** Every chunk id the tenant has, and every vector id recorded for deletion: what deleting the tenant removes from the vector index. */
  vectorIds(after: string, limit: number): string[] {
    return this.sql
      .exec<{ id: string }>(
        "SELECT id FROM chunks WHERE id > ?1 UNION SELECT id FROM vector_deletions WHERE id > ?1 ORDER BY id LIMIT ?2",
        after,
        limit,
      )
      .toArray()
      .map((row) => row.id);
  }

  /**
   * Deletes everything the object stores; its next call starts from an empty, current schema. The
   * index version and cache epoch go on from where they were (one past), never back to a value an
   * answer cached before the deletion was keyed by.
   */
  async destroy(): Promise<void> {
    const { index_version, cache_epoch } = this.sql
      .exec<{ index_version: number; cache_epoch: number }>("SELECT index_version, cache_epoch FROM tenant")
      .one();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    migrateTenantSchema(this.ctx.storage);
    this.sql.exec("UPDATE tenant SET index_version = ?1, cache_epoch = ?2", index_version + 1, cache_epoch + 1);
  }

  // ─── Bucket sync (shard 0 only: bucket-sync.ts) ────────────────────────────────────────────────

  /**
   * Attaches the tenant's source, or replaces it. A new prefix or collection forgets the ETags
   * seen (the next run reads every object again: under the new collection, or under the new
   * prefix, where keys no longer seen are removed) and cancels a run in progress.
   */
  attachSyncSource(source: { prefix: string; collection: string }, now: number): { replaced: boolean } {
    return this.ctx.storage.transactionSync(() => {
      const current = this.sql.exec<SyncSource>("SELECT prefix, collection, attached_at, updated_at FROM sync_source").toArray()[0];
      if (current && current.prefix === source.prefix && current.collection === source.collection) return { replaced: false };
      if (current) {
        this.sql.exec("UPDATE sync_objects SET etag = NULL, failed_etag = NULL");
        this.cancelSyncRuns(now);
      }
      this.sql.exec(
        `INSERT INTO sync_source (id, prefix, collection, attached_at, updated_at) VALUES (1, ?1, ?2, ?3, ?3)
         ON CONFLICT (id) DO UPDATE SET prefix = excluded.prefix, collection = excluded.collection, updated_at = excluded.updated_at`,
        source.prefix,
        source.collection,
        now,
      );
      return { replaced: current !== undefined };
    });
  }

  /** Detaches the source: its runs and per-object records go; the documents it synced stay. False when none is attached. */
  detachSyncSource(): boolean {
    return this.ctx.storage.transactionSync(() => {
      if (this.sql.exec("SELECT 1 FROM sync_source").toArray().length === 0) return false;
      this.sql.exec("DELETE FROM sync_source");
      this.sql.exec("DELETE FROM sync_runs");
      this.sql.exec("DELETE FROM sync_objects");
      return true;
    });
  }

  /** The source, its latest run and that run's failures (at most `failureLimit`); null when no source is attached. */
  syncStatus(failureLimit: number): SyncStatus | null {
    const source = this.sql.exec<SyncSource>("SELECT prefix, collection, attached_at, updated_at FROM sync_source").toArray()[0];
    if (!source) return null;
    const run = this.latestSyncRun();
    const failures =
      run === null
        ? []
        : this.sql
            .exec<{ key: string; error: string }>(
              "SELECT key, error FROM sync_objects WHERE generation = ?1 AND error IS NOT NULL ORDER BY key LIMIT ?2",
              run.generation,
              failureLimit,
            )
            .toArray();
    const { objects } = this.sql.exec<{ objects: number }>("SELECT COUNT(*) AS objects FROM sync_objects WHERE synced = 1").one();
    return { source, run, failures, objects };
  }

  /**
   * Starts a run unless one is in progress (then that one is the answer, `started: false`): a run
   * is never started twice. Null when no source is attached.
   */
  startSyncRun(trigger: SyncTrigger, now: number): { started: boolean; run: SyncRun } | null {
    return this.ctx.storage.transactionSync(() => {
      if (this.sql.exec("SELECT 1 FROM sync_source").toArray().length === 0) return null;
      const running = this.latestSyncRun();
      if (running?.state === "running") return { started: false, run: running };
      this.sql.exec("INSERT INTO sync_runs (state, trigger, started_at, updated_at) VALUES ('running', ?1, ?2, ?2)", trigger, now);
      return { started: true, run: this.latestSyncRun()! };
    });
  }

  /**
   * Takes the lease on the run in progress for `holder` (a queue message) until `now + leaseMs`:
   * the run `generation` names, or (without one) the run in progress or a new one. Null when there
   * is no source, that run is over, or another holder's lease is still live: only one worker works
   * on a run at a time, and one whose worker died is taken over, from its cursor, once its lease ends.
   */
  claimSyncRun(claim: {
    holder: string;
    trigger: SyncTrigger;
    generation?: number;
    now: number;
    leaseMs: number;
  }): { run: SyncRun; source: SyncSource } | null {
    return this.ctx.storage.transactionSync(() => {
      const source = this.sql.exec<SyncSource>("SELECT prefix, collection, attached_at, updated_at FROM sync_source").toArray()[0];
      if (!source) return null;
      let run = this.latestSyncRun();
      if (claim.generation !== undefined && (run?.generation !== claim.generation || run.state !== "running")) return null;
      if (run?.state !== "running") {
        this.sql.exec(
          "INSERT INTO sync_runs (state, trigger, started_at, updated_at) VALUES ('running', ?1, ?2, ?2)",
          claim.trigger,
          claim.now,
        );
        run = this.latestSyncRun()!;
      }
      const lease = this.sql
        .exec<{ lease_holder: string | null; lease_until: number | null }>(
          "SELECT lease_holder, lease_until FROM sync_runs WHERE generation = ?1",
          run.generation,
        )
        .one();
      if (lease.lease_holder !== null && lease.lease_holder !== claim.holder && (lease.lease_until ?? 0) > claim.now) return null;
      this.sql.exec(
        "UPDATE sync_runs SET lease_holder = ?2, lease_until = ?3, updated_at = ?4 WHERE generation = ?1",
        run.generation,
        claim.holder,
        claim.now + claim.leaseMs,
        claim.now,
      );
      return { run, source };
    });
  }

  /**
   * What to do with a page of the listing (the lease renewed): a key this run already settled is
   * skipped (a resumed page indexes nothing twice); one whose ETag is the one indexed is
   * `unchanged`, and one whose bytes the parser refused before fails again unread; a key whose
   * document id another key has fails (DOCUMENT_ID_TAKEN), as does one that makes none; the rest
   * are to index (`added` or `changed`). Null when the lease is lost.
   */
  planSyncPage(
    lease: SyncLease,
    objects: Array<{ key: string; etag: string; documentId: string | null }>,
  ): Array<{ key: string; etag: string; documentId: string; change: "added" | "changed" }> | null {
    return this.ctx.storage.transactionSync(() => {
      if (!this.renewSyncLease(lease)) return null;
      const { generation } = lease;
      const counts = { unchanged: 0, failed: 0 };
      const work: Array<{ key: string; etag: string; documentId: string; change: "added" | "changed" }> = [];
      // The ids this page's keys make, by key: two keys of one page can make one id before either is recorded.
      const claimed = new Map<string, string>();
      for (const object of objects) {
        const record = this.sql
          .exec<{ etag: string | null; failed_etag: string | null; generation: number; synced: number }>(
            "SELECT etag, failed_etag, generation, synced FROM sync_objects WHERE key = ?1",
            object.key,
          )
          .toArray()[0];
        if (record?.generation === generation) continue;
        const owner =
          object.documentId === null
            ? undefined
            : (this.sql
                .exec<{ key: string }>("SELECT key FROM sync_objects WHERE document_id = ?1 AND key <> ?2", object.documentId, object.key)
                .toArray()[0]?.key ?? claimed.get(object.documentId));
        if (object.documentId !== null && owner === undefined) claimed.set(object.documentId, object.key);
        const refusal =
          object.documentId === null
            ? "NO_DOCUMENT_ID: the key's file name makes no document id"
            : owner !== undefined
              ? `DOCUMENT_ID_TAKEN: the key ${owner} makes the same document id (${object.documentId})`
              : null;
        if (refusal !== null) {
          this.sql.exec(
            `INSERT INTO sync_objects (key, document_id, etag, generation, error, failed_etag) VALUES (?1, NULL, NULL, ?2, ?3, NULL)
             ON CONFLICT (key) DO UPDATE SET generation = excluded.generation, error = excluded.error`,
            object.key,
            generation,
            refusal,
          );
          counts.failed++;
        } else if (record?.etag === object.etag) {
          this.sql.exec("UPDATE sync_objects SET generation = ?2, error = NULL WHERE key = ?1", object.key, generation);
          counts.unchanged++;
        } else if (record?.failed_etag === object.etag) {
          this.sql.exec("UPDATE sync_objects SET generation = ?2 WHERE key = ?1", object.key, generation);
          counts.failed++;
        } else work.push({ ...object, documentId: object.documentId!, change: record?.synced ? "changed" : "added" });
      }
      this.sql.exec(
        "UPDATE sync_runs SET unchanged = unchanged + ?2, failed = failed + ?3 WHERE generation = ?1",
        generation,
        counts.unchanged,
        counts.failed,
      );
      return work;
    });
  }

  /**
   * What became of one object the run read (the lease renewed): indexed (its ETag and document
   * recorded) or failed (its error; with `refused`, its ETag too, so that the same bytes are not
   * read again). False when the lease is lost.
   */
  recordSyncObject(
    lease: SyncLease,
    outcome: { key: string; etag: string; documentId: string; change: "added" | "changed" } & (
      | { ok: true }
      | { ok: false; error: string; refused: boolean }
    ),
  ): boolean {
    return this.ctx.storage.transactionSync(() => {
      if (!this.renewSyncLease(lease)) return false;
      const { generation } = lease;
      if (outcome.ok)
        this.sql.exec(
          `INSERT INTO sync_objects (key, document_id, synced, etag, generation, error, failed_etag) VALUES (?1, ?2, 1, ?3, ?4, NULL, NULL)
           ON CONFLICT (key) DO UPDATE SET document_id = excluded.document_id, synced = 1, etag = excluded.etag, generation = excluded.generation,
             error = NULL, failed_etag = NULL`,
          outcome.key,
          outcome.documentId,
          outcome.etag,
          generation,
        );
      else
        this.sql.exec(
          `INSERT INTO sync_objects (key, document_id, etag, generation, error, failed_etag) VALUES (?1, ?2, NULL, ?3, ?4, ?5)
           ON CONFLICT (key) DO UPDATE SET document_id = excluded.document_id, generation = excluded.generation, error = excluded.error,
             failed_etag = excluded.failed_etag`,
          outcome.key,
          outcome.documentId,
          generation,
          outcome.error,
          outcome.refused ? outcome.etag : null,
        );
      const column = outcome.ok ? outcome.change : "failed";
      this.sql.exec(`UPDATE sync_runs SET ${column} = ${column} + 1 WHERE generation = ?1`, generation);
      return true;
    });
  }

  /** Persists where the listing resumes (`listed`: it is complete). False when the lease is lost. */
  advanceSyncRun(lease: SyncLease, cursor: string | null, listed: boolean): boolean {
    return this.ctx.storage.transactionSync(() => {
      if (!this.renewSyncLease(lease)) return false;
      this.sql.exec("UPDATE sync_runs SET cursor = ?2, listed = ?3 WHERE generation = ?1", lease.generation, cursor, listed ? 1 : 0);
      return true;
    });
  }

  /**
   * Keys that this run's complete listing did not see (deleted from the bucket), at most `limit`,
   * each with the document the source made of it (null when it never indexed one: a document of
   * that id made otherwise is not the source's to delete).
   */
  staleSyncObjects(generation: number, limit: number): Array<{ key: string; documentId: string | null }> {
    return this.sql
      .exec<{ key: string; document_id: string | null }>(
        "SELECT key, CASE WHEN synced = 1 THEN document_id END AS document_id FROM sync_objects WHERE generation < ?1 ORDER BY key LIMIT ?2",
        generation,
        limit,
      )
      .toArray()
      .map((row) => ({ key: row.key, documentId: row.document_id }));
  }

  /** Forgets keys whose documents were deleted (`removed` of them existed). False when the lease is lost. */
  forgetSyncObjects(lease: SyncLease, keys: string[], removed: number): boolean {
    return this.ctx.storage.transactionSync(() => {
      if (!this.renewSyncLease(lease)) return false;
      this.sql.exec("DELETE FROM sync_objects WHERE key IN (SELECT value FROM json_each(?1))", JSON.stringify(keys));
      this.sql.exec("UPDATE sync_runs SET removed = removed + ?2 WHERE generation = ?1", lease.generation, removed);
      return true;
    });
  }

  /** Ends the run (`done`), or, with `release`, only gives its lease up so that the next message continues it at once. */
  settleSyncRun(lease: Omit<SyncLease, "leaseMs">, release = false): boolean {
    const finished = release
      ? "UPDATE sync_runs SET lease_holder = NULL, lease_until = NULL, updated_at = ?3 WHERE generation = ?1 AND state = 'running' AND lease_holder = ?2"
      : "UPDATE sync_runs SET state = 'done', lease_holder = NULL, lease_until = NULL, updated_at = ?3, finished_at = ?3 WHERE generation = ?1 AND state = 'running' AND lease_holder = ?2";
    return written(this.sql.exec(finished, lease.generation, lease.holder, lease.now)) > 0;
  }

  /**
   * Forgets what the source indexed as document `id` (deleted by id, in this object or, for a
   * sharded tenant, in another shard's), so that the next run indexes its object again.
   */
  forgetSyncDocument(id: string): void {
    this.sql.exec("UPDATE sync_objects SET etag = NULL, failed_etag = NULL, synced = 0 WHERE document_id = ?1", id);
  }

  private latestSyncRun(): SyncRun | null {
    const row = this.sql
      .exec<Omit<SyncRun, "listed"> & { listed: number }>(
        `SELECT generation, state, trigger, cursor, listed, added, changed, removed, unchanged, failed, started_at, updated_at, finished_at
         FROM sync_runs ORDER BY generation DESC LIMIT 1`,
      )
      .toArray()[0];
    return row ? { ...row, listed: row.listed === 1 } : null;
  }

  /** Renews the holder's lease on a run in progress; false when it is not (or no longer) the holder's. */
  private renewSyncLease({ generation, holder, now, leaseMs }: SyncLease): boolean {
    const renewed = this.sql.exec(
      "UPDATE sync_runs SET lease_until = ?3, updated_at = ?4 WHERE generation = ?1 AND state = 'running' AND lease_holder = ?2",
      generation,
      holder,
      now + leaseMs,
      now,
    );
    return written(renewed) > 0;
  }

  private cancelSyncRuns(now: number): void {
    this.sql.exec(
      "UPDATE sync_runs SET state = 'cancelled', lease_holder = NULL, lease_until = NULL, updated_at = ?1, finished_at = ?1 WHERE state = 'running'",
      now,
    );
  }

  // ─── The sweep's wake-up ───────────────────────────────────────────────────────────────────────

  /**
   * Asks the ingest queue to sweep the tenant while a job is unfinished or recorded vector ids are
   * due for deletion, and wakes again while either remains (at the next due time for vector ids
   * recorded ahead of their upsert).
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const name = this.ctx.id.name;
    const { unfinished, due } = this.pendingWork();
    const webhooks = await this.repairWebhookEvents(now);
    // Only work that needs repair asks for a sweep: a job whose messages are on the queue needs
    // none, and thousands of tenants mid-ingest would otherwise fill the queue with sweeps.
    if (name && ((due !== null && due <= now) || (unfinished && this.needsRepair(now)) || webhooks.needsSweep)) {
      const { tenant, shard } = parseShardObjectName(name);
      const message: SweepMessage = shard === 0 ? { v: 1, tenant, sweep: true } : { v: 1, tenant, shard, sweep: true };
      await this.env.INGEST_QUEUE.send(message, { contentType: "json" });
    }
    const next = Math.min(
      unfinished || webhooks.waiting ? now + SWEEP_INTERVAL_MS : Infinity,
      due === null ? Infinity : Math.max(due, now + SWEEP_INTERVAL_MS),
    );
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  /**
   * What the object must wake for: an unfinished job or hold, the first recorded vector id's time
   * (null: none), and webhook events not yet sent (`any`: one of them).
   */
  private pendingWork(): { unfinished: boolean; due: number | null; webhooks: boolean; any: boolean } {
    const unfinished =
      this.sql.exec("SELECT 1 FROM jobs WHERE finished_at IS NULL OR status = 'held' UNION ALL SELECT 1 FROM holds LIMIT 1").toArray()
        .length > 0;
    const { due } = this.sql.exec<{ due: number | null }>("SELECT MIN(created_at) AS due FROM vector_deletions").one();
    const webhooks = this.webhookEventsWaiting();
    return { unfinished, due, webhooks, any: unfinished || due !== null || webhooks };
  }

  /**
   * The alarm's part for webhooks, two lookups on partial indexes while nothing is pending:
   * deliveries recorded but not enqueued after ENQUEUE_GRACE_MS (a failed send, a crash between
   * record and send) are enqueued again from here; a finished job whose event is not recorded is
   * recorded here when this object holds whole jobs, and otherwise (a tenant of several shards)
   * needs the sweep, which asks every shard (IngestService.sweep). `waiting`: either is pending,
   * however recent, so the alarm comes back.
   */
  private async repairWebhookEvents(now: number): Promise<{ waiting: boolean; needsSweep: boolean }> {
    const graceEnded = now - ENQUEUE_GRACE_MS;
    let needsSweep = false;
    const unnotified = this.jobsAwaitingEvent(graceEnded, 100);
    const recorded: string[] = [];
    if (unnotified.length > 0) {
      if (this.holdsWholeJobs())
        for (const jobId of unnotified) recorded.push(...this.ctx.storage.transactionSync(() => this.recordFinishedJob(jobId, now)));
      else needsSweep = true;
    }
    const unsent = this.sql
      .exec<{ id: string }>(
        "SELECT id FROM webhook_deliveries WHERE enqueued_at IS NULL AND created_at < ?1 ORDER BY created_at LIMIT 100",
        graceEnded,
      )
      .toArray()
      .map((row) => row.id);
    await this.sendDeliveries([...new Set([...unsent, ...recorded])]);
    return { waiting: this.webhookEventsWaiting(), needsSweep };
  }

  /** Whether a delivery is recorded but not sent, or a finished job's event not yet recorded. */
  private webhookEventsWaiting(): boolean {
    return (
      this.sql
        .exec(
          `SELECT 1 FROM webhook_deliveries WHERE enqueued_at IS NULL
           UNION ALL SELECT 1 FROM jobs WHERE notified_at IS NULL AND finished_at IS NOT NULL AND status <> 'held' LIMIT 1`,
        )
        .toArray().length > 0
    );
  }

  /** Whether a job was never enqueued or has stalled, or an accept across shards was left on hold (what IngestService.sweep repairs). */
  private needsRepair(now: number): boolean {
    const graceEnded = now - ENQUEUE_GRACE_MS;
    const { unenqueued, stalled } = this.jobsToEnqueue(graceEnded, now - loadConfig(this.env).INGEST_STALL_SECONDS * 1000, 1);
    const staleHold =
      this.sql
        .exec(
          "SELECT 1 FROM holds WHERE created_at < ?1 UNION ALL SELECT 1 FROM jobs WHERE status = 'held' AND created_at < ?1 LIMIT 1",
          graceEnded,
        )
        .toArray().length > 0;
    return unenqueued.length > 0 || stalled.length > 0 || staleHold;
  }

  /** Sets the alarm at `at` unless one is due earlier. */
  private async wakeBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  // ─── Internals ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Records the tenant's shard count on the object's first write, and refuses (what it returns) a
   * write under another count once it holds documents: the documents were placed by the count they were
   * written under, and no resharding exists yet (tenant-shards.ts).
   */
  private checkShards(usage: { documents: number; shards: number | null }, shards: number): string | null {
    if (usage.shards === shards) return null;
    // Documents written before the count was recorded (schema version 3) were written as one shard.
    const recorded = usage.shards ?? 1;
    if (usage.documents > 0 && recorded !== shards)
      return `the tenant's shard count changed from ${recorded} to ${shards} after its documents were written; resharding does not exist yet: set tenants.shards back to ${recorded}`;
    this.sql.exec("UPDATE tenant SET shards = ?1", shards);
    return null;
  }

  private indexVersion(): number {
    return this.sql.exec<{ index_version: number }>("SELECT index_version FROM tenant").one().index_version;
  }

  private chunkCount(documentId: string): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE document_id = ?1", documentId).one().n;
  }

  private atVersion(id: string, contentHash: string, revision: string): boolean {
    return (
      this.sql.exec("SELECT 1 FROM documents WHERE id = ?1 AND content_hash = ?2 AND revision = ?3", id, contentHash, revision).toArray()
        .length > 0
    );
  }

  private recordDeletions(ids: string[], now: number): void {
    this.sql.exec(
      `INSERT INTO vector_deletions (id, created_at) SELECT value, ?2 FROM json_each(?1) WHERE value NOT IN (SELECT id FROM chunks)
       ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at`,
      JSON.stringify(ids),
      now,
    );
  }

  /** The chunk swap of one document at its version: old chunks' vector ids recorded for deletion, old chunks out, new in, the document indexed. */
  private replaceChunks(ready: ReadyDocument, now: number, jobId: string | undefined): void {
    const ids = JSON.stringify(ready.chunks.map((chunk) => chunk.id));
    this.sql.exec(
      "INSERT OR IGNORE INTO vector_deletions (id, created_at) SELECT id, ?2 FROM chunks WHERE document_id = ?1 AND id NOT IN (SELECT value FROM json_each(?3))",
      ready.id,
      now,
      ids,
    );
    this.sql.exec("DELETE FROM chunks WHERE document_id = ?1", ready.id);
    for (const chunk of ready.chunks)
      this.sql.exec(
        `INSERT INTO chunks (id, document_id, collection, chunk_index, text, start_offset, end_offset, title, page, section)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
        chunk.id,
        ready.id,
        ready.collection,
        chunk.index,
        chunk.text,
        chunk.start,
        chunk.end,
        ready.title,
        chunk.page ?? null,
        chunk.section ?? null,
      );
    this.sql.exec("DELETE FROM vector_deletions WHERE id IN (SELECT value FROM json_each(?1))", ids);
    this.sql.exec(
      `UPDATE documents SET indexed_hash = content_hash, metadata = accepted_metadata, status = 'indexed', chunk_count = ?2, error = NULL, updated_at = ?3
       WHERE id = ?1`,
      ready.id,
      ready.chunks.length,
      now,
    );
    if (jobId)
      this.sql.exec(
        "UPDATE job_documents SET status = 'done', chunks = ?3, error = NULL, updated_at = ?4 WHERE job_id = ?1 AND document_id = ?2 AND status = 'queued'",
        jobId,
        ready.id,
        ready.chunks.length,
        now,
      );
  }

  private settleJobDocument(jobId: string, documentId: string, status: "failed" | "skipped", error: string | null, now: number): void {
    this.sql.exec(
      "UPDATE job_documents SET status = ?3, error = ?4, updated_at = ?5 WHERE job_id = ?1 AND document_id = ?2 AND status = 'queued'",
      jobId,
      documentId,
      status,
      error,
      now,
    );
  }

  /** Recomputes a job's status from its documents, recording its event once it finished (recordFinishedJob); idempotent. */
  private finalizeJob(jobId: string, now: number): string[] {
    const anyQueued = "EXISTS (SELECT 1 FROM job_documents WHERE job_id = ?1 AND status = 'queued')";
    this.sql.exec(
      `UPDATE jobs SET
         status = CASE WHEN ${anyQueued} THEN 'processing'
                       WHEN EXISTS (SELECT 1 FROM job_documents WHERE job_id = ?1 AND status = 'failed') THEN 'failed'
                       ELSE 'done' END,
         finished_at = CASE WHEN ${anyQueued} THEN NULL ELSE COALESCE(finished_at, ?2) END,
         updated_at = ?2
       WHERE id = ?1`,
      jobId,
      now,
    );
    return this.recordFinishedJob(jobId, now);
  }

  /**
   * Inside the transaction that finished a job: records its event (insertEvent) when this object
   * holds the whole job (the tenant has one shard) and the job has finished and has not been
   * notified; a tenant of several shards has it recorded by the worker once every shard's part has
   * finished (tenant-data-port.ts settleJobEvent). Returns the deliveries to enqueue.
   */
  private recordFinishedJob(jobId: string, now: number): string[] {
    if (!this.holdsWholeJobs()) return [];
    if (!this.jobAwaitingEvent(jobId)) return [];
    const job = this.job(jobId);
    if (!job) return [];
    const ids = this.insertEvent(job, now);
    this.sql.exec("UPDATE jobs SET notified_at = ?2 WHERE id = ?1", jobId, now);
    return ids;
  }

  /** One delivery per webhook subscribed to the job's event; a (webhook, job, event) recorded before is not recorded again. The new deliveries' ids. */
  private insertEvent(job: JobView, now: number): string[] {
    const event = eventOf(job.status);
    const webhooks = this.sql
      .exec<{ id: string }>("SELECT id FROM webhooks WHERE EXISTS (SELECT 1 FROM json_each(webhooks.events) WHERE value = ?1)", event)
      .toArray();
    if (webhooks.length === 0) return [];
    const payload = jobEventPayload(job, event, now);
    return webhooks.flatMap(({ id }) =>
      this.sql
        .exec<{ id: string }>(
          `INSERT INTO webhook_deliveries (id, webhook_id, job_id, event, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (webhook_id, job_id, event) DO NOTHING RETURNING id`,
          newDeliveryId(),
          id,
          job.id,
          event,
          payload,
          now,
        )
        .toArray()
        .map((row) => row.id),
    );
  }

  /** Whether this object holds whole jobs: it is shard 0 of a tenant of one shard. */
  private holdsWholeJobs(): boolean {
    const name = this.ctx.id.name;
    if (name !== undefined && parseShardObjectName(name).shard !== 0) return false;
    return (this.sql.exec<{ shards: number | null }>("SELECT shards FROM tenant").one().shards ?? 1) === 1;
  }

  /**
   * Puts recorded deliveries on the webhook queue and marks them enqueued. A failure (or a crash
   * before the mark) leaves them to the alarm, which enqueues deliveries unsent after
   * ENQUEUE_GRACE_MS; the alarm is set first, so that it comes.
   */
  private async sendDeliveries(ids: string[]): Promise<void> {
    const name = this.ctx.id.name;
    if (ids.length === 0 || name === undefined) return;
    const { tenant } = parseShardObjectName(name);
    const now = Date.now();
    await this.wakeBy(now + SWEEP_INTERVAL_MS);
    try {
      for (let i = 0; i < ids.length; i += 100) {
        const messages = ids.slice(i, i + 100).map((id): { body: WebhookMessage; contentType: "json" } => ({
          body: { v: 1, tenant, delivery_id: id },
          contentType: "json",
        }));
        await this.env.WEBHOOK_QUEUE.sendBatch(messages);
      }
      this.sql.exec(
        "UPDATE webhook_deliveries SET enqueued_at = ?2 WHERE id IN (SELECT value FROM json_each(?1)) AND enqueued_at IS NULL",
        JSON.stringify(ids),
        now,
      );
    } catch (error) {
      log.warn("webhook deliveries not enqueued; the alarm enqueues them", { tenant, deliveries: ids.length, ...errorFields(error) });
    }
  }

  /** Runs statements and adds up the rows their cursors read and wrote. */
  private meter() {
    const cost: RowCost = { rowsRead: 0, rowsWritten: 0 };
    const exec = <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): T[] => {
      const cursor = this.sql.exec<T>(query, ...bindings);
      const rows = cursor.toArray();
      cost.rowsRead += cursor.rowsRead;
      cost.rowsWritten += cursor.rowsWritten;
      return rows;
    };
    return {
      all: exec,
      one: <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]) => exec<T>(query, ...bindings)[0]!,
      run: (query: string, ...bindings: unknown[]) => void exec(query, ...bindings),
      total: (): RowCost => ({ ...cost }),
    };
  }
}

/** The hydration statement: one lookup by chunk id per candidate (exported so a test can check its query plan). */
export function hydrationQuery(request: { ids: readonly string[]; plan: FilterPlan }): { sql: string; params: SqlValue[] } {
  const params = createSqlParams();
  const ids = params.add(JSON.stringify(request.ids));
  const where = filterSql(request.plan, params);
  const sql = `SELECT c.id, c.document_id, c.collection, c.chunk_index, c.text, c.page, c.section, d.metadata
     FROM chunks c JOIN documents d ON d.id = c.document_id
     WHERE c.id IN (SELECT value FROM json_each(${ids})) AND ${where}`;
  return { sql, params: params.values };
}

/** Each target as its document stands now: work to index, or skipped (deleted, superseded by a newer version, or indexed already). */
function sortTargets(targets: IndexTarget[], current: ReadonlyMap<string, LoadedDocument>): { work: LoadedDocument[]; skipped: Skipped[] } {
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

function parseMetadata(text: string): DocumentMetadata {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as DocumentMetadata) : {};
  } catch {
    return {};
  }
}
