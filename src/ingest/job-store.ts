import { indexVersionStatement, readIndexVersion } from "../store/tenant-store";
import { createD1Batch } from "./d1-batch";

/**
 * Ingestion jobs in D1. A job's progress is derived from its per-document rows (job_documents),
 * whose status moves once, from `queued` to `done` | `skipped` | `failed`, guarded by
 * `status = 'queued'` — so a redelivered message can never count a document twice.
 *
 * Job status, in API terms: `queued` (nothing started), `processing` (some documents still
 * queued), `done` (every document indexed or skipped), `failed` (finished, and at least one
 * document failed; the others are indexed and searchable, `errors` says which failed and why).
 */

export const JOB_STATUSES = ["queued", "processing", "done", "failed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobView {
  id: string;
  status: JobStatus;
  documents: number;
  processed: number;
  skipped: number;
  failed: number;
  queued: number;
  chunks: number;
  errors: Array<{ document_id: string; error: string }>;
  index_version: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** The job as its tenant sees it; null for an unknown id or another tenant's job. */
export async function getJob(db: D1Database, tenant: string, id: string): Promise<JobView | null> {
  const batch = createD1Batch(db);
  const jobs = batch.add(
    db
      .prepare("SELECT id, status, documents, created_at, updated_at, finished_at FROM jobs WHERE id = ?1 AND tenant = ?2")
      .bind(id, tenant),
  );
  const counts = batch.add(
    db
      .prepare("SELECT status, COUNT(*) AS n, SUM(chunks) AS chunks FROM job_documents WHERE job_id = ?1 AND tenant = ?2 GROUP BY status")
      .bind(id, tenant),
  );
  const failures = batch.add(
    db
      .prepare(
        `SELECT document_id, error FROM job_documents WHERE job_id = ?1 AND tenant = ?2 AND status = 'failed'
         ORDER BY document_id LIMIT 1000`,
      )
      .bind(id, tenant),
  );
  const version = batch.add(indexVersionStatement(db, tenant));
  await batch.run();
  const [job] = jobs.rows<Omit<JobView, "processed" | "skipped" | "failed" | "queued" | "chunks" | "errors" | "index_version">>();
  if (!job) return null;
  const byStatus = new Map(counts.rows<{ status: string; n: number; chunks: number | null }>().map((row) => [row.status, row]));
  return {
    ...job,
    processed: byStatus.get("done")?.n ?? 0,
    skipped: byStatus.get("skipped")?.n ?? 0,
    failed: byStatus.get("failed")?.n ?? 0,
    queued: byStatus.get("queued")?.n ?? 0,
    chunks: byStatus.get("done")?.chunks ?? 0,
    errors: failures
      .rows<{ document_id: string; error: string | null }>()
      .map((row) => ({ document_id: row.document_id, error: row.error ?? "unknown error" })),
    index_version: readIndexVersion(version.rows()),
  };
}

/** `queued` → `processing` when a consumer picks up the first message of a job. */
export function markProcessingStatement(db: D1Database, tenant: string, jobId: string, now: number): D1PreparedStatement {
  return db
    .prepare("UPDATE jobs SET status = 'processing', updated_at = ?3 WHERE id = ?1 AND tenant = ?2 AND status = 'queued'")
    .bind(jobId, tenant, now);
}

/** Recomputes a job's status from its documents; idempotent, so every writer may run it. */
export function finalizeJobStatement(db: D1Database, tenant: string, jobId: string, now: number): D1PreparedStatement {
  const anyQueued = "EXISTS (SELECT 1 FROM job_documents WHERE job_id = ?1 AND status = 'queued')";
  return db
    .prepare(
      `UPDATE jobs SET
         status = CASE
           WHEN ${anyQueued} THEN CASE WHEN status = 'queued' THEN 'queued' ELSE 'processing' END
           WHEN EXISTS (SELECT 1 FROM job_documents WHERE job_id = ?1 AND status = 'failed') THEN 'failed'
           ELSE 'done' END,
         finished_at = CASE WHEN ${anyQueued} THEN NULL ELSE COALESCE(finished_at, ?3) END,
         updated_at = ?3
       WHERE id = ?1 AND tenant = ?2`,
    )
    .bind(jobId, tenant, now);
}

/** The job's documents that no consumer has finished, with the content each was asked to index. */
export async function pendingJobDocuments(
  db: D1Database,
  tenant: string,
  jobId: string,
  documentIds?: string[],
): Promise<Array<{ documentId: string; contentHash: string; textLength: number }>> {
  const filter = documentIds ? "AND jd.document_id IN (SELECT value FROM json_each(?3))" : "";
  const statement = db.prepare(
    `SELECT jd.document_id AS documentId, jd.content_hash AS contentHash, COALESCE(length(d.text), 0) AS textLength
     FROM job_documents jd LEFT JOIN documents d ON d.tenant = jd.tenant AND d.id = jd.document_id
     WHERE jd.job_id = ?1 AND jd.tenant = ?2 AND jd.status = 'queued' ${filter}
     ORDER BY jd.document_id`,
  );
  const { results } = await (documentIds ? statement.bind(jobId, tenant, JSON.stringify(documentIds)) : statement.bind(jobId, tenant)).all<{
    documentId: string;
    contentHash: string;
    textLength: number;
  }>();
  return results;
}

/** Remembers a failed attempt (the error shown if the job finally gives up); the documents stay queued. */
export function recordAttemptStatement(
  db: D1Database,
  tenant: string,
  jobId: string,
  documentIds: string[],
  attempt: number,
  error: string,
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE job_documents SET attempts = MAX(attempts, ?3), error = ?4, updated_at = ?5
       WHERE job_id = ?1 AND tenant = ?2 AND status = 'queued' AND document_id IN (SELECT value FROM json_each(?6))`,
    )
    .bind(jobId, tenant, attempt, error, now, JSON.stringify(documentIds));
}

/**
 * The dead-letter verdict for documents whose messages ran out of retries: `failed` with the last
 * error when that content is still the document's current, unindexed content; otherwise
 * `skipped` (deleted, superseded by a newer version, or indexed meanwhile by another job).
 */
export async function giveUpOnDocuments(db: D1Database, tenant: string, jobId: string, documentIds: string[], now: number): Promise<void> {
  const ids = JSON.stringify(documentIds);
  const current = `EXISTS (SELECT 1 FROM documents d WHERE d.tenant = ?2 AND d.id = job_documents.document_id
                     AND d.content_hash = job_documents.content_hash AND d.indexed_hash IS NOT d.content_hash)`;
  const giveUp = `'gave up after ' || MAX(attempts, 1) || ' attempt(s); last error: ' || COALESCE(error, 'unknown error')`;
  await db.batch([
    db
      .prepare(
        `UPDATE documents SET status = 'failed', updated_at = ?4,
           error = (SELECT ${giveUp} FROM job_documents WHERE job_id = ?1 AND document_id = documents.id)
         WHERE tenant = ?2 AND indexed_hash IS NOT content_hash AND id IN (
           SELECT document_id FROM job_documents
           WHERE job_id = ?1 AND tenant = ?2 AND status = 'queued' AND content_hash = documents.content_hash
             AND document_id IN (SELECT value FROM json_each(?3)))`,
      )
      .bind(jobId, tenant, ids, now),
    db
      .prepare(
        `UPDATE job_documents SET status = 'failed', error = ${giveUp}, updated_at = ?4
         WHERE job_id = ?1 AND tenant = ?2 AND status = 'queued' AND document_id IN (SELECT value FROM json_each(?3)) AND ${current}`,
      )
      .bind(jobId, tenant, ids, now),
    db
      .prepare(
        `UPDATE job_documents SET status = 'skipped', error = NULL, updated_at = ?4
         WHERE job_id = ?1 AND tenant = ?2 AND status = 'queued' AND document_id IN (SELECT value FROM json_each(?3))`,
      )
      .bind(jobId, tenant, ids, now),
    finalizeJobStatement(db, tenant, jobId, now),
  ]);
}

/** Jobs whose messages may never have reached the queue (created before `olderThan`, never marked enqueued). */
export async function unenqueuedJobs(db: D1Database, olderThan: number, limit: number): Promise<Array<{ id: string; tenant: string }>> {
  const { results } = await db
    .prepare("SELECT id, tenant FROM jobs WHERE enqueued_at IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2")
    .bind(olderThan, limit)
    .all<{ id: string; tenant: string }>();
  return results;
}

export function markEnqueuedStatement(db: D1Database, tenant: string, jobId: string, now: number): D1PreparedStatement {
  return db.prepare("UPDATE jobs SET enqueued_at = ?3 WHERE id = ?1 AND tenant = ?2 AND enqueued_at IS NULL").bind(jobId, tenant, now);
}

/**
 * Jobs with documents still queued, enqueued before `stalledBefore`, and no document progress
 * since: their messages were lost (a local queue dropped across a restart; a dead letter that never
 * arrived). Progressing jobs, including those waiting out retry backoff, touch job_documents.
 */
export async function stalledJobs(db: D1Database, stalledBefore: number, limit: number): Promise<Array<{ id: string; tenant: string }>> {
  const { results } = await db
    .prepare(
      `SELECT j.id, j.tenant FROM jobs j
       WHERE j.status IN ('queued', 'processing') AND j.enqueued_at IS NOT NULL AND j.enqueued_at < ?1
         AND EXISTS (SELECT 1 FROM job_documents d WHERE d.job_id = j.id AND d.status = 'queued')
         AND NOT EXISTS (SELECT 1 FROM job_documents d WHERE d.job_id = j.id AND d.updated_at >= ?1)
       ORDER BY j.created_at LIMIT ?2`,
    )
    .bind(stalledBefore, limit)
    .all<{ id: string; tenant: string }>();
  return results;
}

/** Records a re-enqueue, so a stalled job is sent again at most once per stall window. */
export function markReenqueuedStatement(db: D1Database, tenant: string, jobId: string, now: number): D1PreparedStatement {
  return db.prepare("UPDATE jobs SET enqueued_at = ?3 WHERE id = ?1 AND tenant = ?2").bind(jobId, tenant, now);
}
