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
