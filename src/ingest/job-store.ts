/**
 * Ingestion jobs, as the tenant's object (src/tenant/tenant-data.ts) keeps them. A job's progress
 * is derived from its per-document rows (job_documents), whose status moves once, from `queued` to
 * `done` | `skipped` | `failed`, guarded by `status = 'queued'` — so a redelivered message can
 * never count a document twice.
 *
 * Job status, in API terms: `queued` (nothing started), `processing` (some documents still
 * queued), `done` (every document indexed or skipped), `failed` (finished, and at least one
 * document failed; the others are indexed and searchable, `errors` says which failed and why).
 */

export const JOB_STATUSES = ["queued", "processing", "done", "failed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** How many documents a job lists the outcome of (and the errors of): the first, in id order. */
export const JOB_OUTCOMES_LISTED = 1000;

/** One document of a job: `chunks` once indexed, `error` once failed. */
export interface JobOutcome {
  document_id: string;
  status: "queued" | "done" | "skipped" | "failed";
  chunks?: number;
  error?: string;
}

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
  /** Each document's outcome, in id order (the first JOB_OUTCOMES_LISTED). */
  outcomes: JobOutcome[];
  index_version: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** A job's status and counts, as GET /v1/jobs/{id} and a webhook's payload both show them. */
export const jobCounts = ({ status, documents, processed, skipped, failed, chunks }: JobView) => ({
  status,
  documents,
  processed,
  skipped,
  failed,
  chunks,
});
