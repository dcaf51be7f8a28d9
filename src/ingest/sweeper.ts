import type { Bindings } from "../bindings";
import { errorFields, log } from "../logger";
import type { ServicesFactory } from "../services";
import {
  finalizeJobStatement,
  markEnqueuedStatement,
  markReenqueuedStatement,
  pendingJobDocuments,
  stalledJobs,
  unenqueuedJobs,
} from "./job-store";
import { planMessages, sendMessages } from "./messages";
import { purgeDeletedVectors } from "./vector-writes";

/**
 * The scheduled sweep (wrangler.toml [triggers] crons, every minute). It repairs what a crash or
 * an outage between two writes can leave behind:
 * - jobs recorded in D1 whose messages never reached the queue (POST answered 503 because the
 *   queue failed, or the isolate died between the D1 batch and sendBatch): re-enqueued once they
 *   are older than ENQUEUE_GRACE_MS, so an accepted document is indexed even if nobody retries;
 * - jobs whose messages were lost after they were enqueued (no document progress for
 *   INGEST_STALL_SECONDS: a local queue dropped across a restart, a dead letter that never
 *   arrived): their pending documents are enqueued again;
 * - vector ids recorded for deletion whose deleteByIds failed: deleted now.
 * Enqueueing twice is harmless (the consumer is idempotent), so the sweep needs no lock.
 */

/** How long a POST may take between its D1 batch and its last sendBatch before the sweep steps in. */
export const ENQUEUE_GRACE_MS = 2 * 60_000;
const JOBS_PER_SWEEP = 50;

export interface SweepResult {
  jobsEnqueued: number;
  jobsReenqueued: number;
  vectorsDeleted: number;
}

export async function sweep(env: Bindings, servicesFor: ServicesFactory, now = Date.now()): Promise<SweepResult> {
  const { db, vectors, config } = servicesFor(env);
  const queue = env.INGEST_QUEUE;

  let jobsEnqueued = 0;
  for (const job of await unenqueuedJobs(db, now - ENQUEUE_GRACE_MS, JOBS_PER_SWEEP)) {
    if (await enqueueJob(db, queue, job, markEnqueuedStatement(db, job.tenant, job.id, Date.now()))) jobsEnqueued++;
  }
  let jobsReenqueued = 0;
  for (const job of await stalledJobs(db, now - config.INGEST_STALL_SECONDS * 1000, JOBS_PER_SWEEP)) {
    if (await enqueueJob(db, queue, job, markReenqueuedStatement(db, job.tenant, job.id, Date.now()))) jobsReenqueued++;
  }
  const vectorsDeleted = await purgeRecordedVectors(db, vectors);

  if (jobsEnqueued || jobsReenqueued || vectorsDeleted) {
    log.info("sweep", { jobs_enqueued: jobsEnqueued, jobs_reenqueued: jobsReenqueued, vectors_deleted: vectorsDeleted });
  }
  return { jobsEnqueued, jobsReenqueued, vectorsDeleted };
}

/** Sends the job's queued documents and records that (`mark`); false, logged, when the queue or D1 fails: a later sweep tries again. */
async function enqueueJob(db: D1Database, queue: Queue, job: { id: string; tenant: string }, mark: D1PreparedStatement): Promise<boolean> {
  try {
    const pending = await pendingJobDocuments(db, job.tenant, job.id);
    await sendMessages(
      queue,
      planMessages(
        job.tenant,
        job.id,
        pending.map((p) => ({ id: p.documentId, textLength: p.textLength })),
      ),
    );
    await db.batch([mark, finalizeJobStatement(db, job.tenant, job.id, Date.now())]);
    return true;
  } catch (error) {
    log.error("sweep could not enqueue job", { job_id: job.id, tenant: job.tenant, ...errorFields(error) });
    return false;
  }
}

/** Deletes recorded vector ids (of any tenant, oldest first); 0, logged, when the index fails: they stay recorded. */
async function purgeRecordedVectors(db: D1Database, vectors: Vectorize): Promise<number> {
  try {
    return await purgeDeletedVectors(db, vectors, { limit: 1000 });
  } catch (error) {
    log.error("sweep could not delete vectors", errorFields(error));
    return 0;
  }
}
