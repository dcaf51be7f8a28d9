import type { Bindings } from "../app-env";
import { ApiError } from "../errors";
import { errorFields, log } from "../logger";
import { metrics } from "../metrics";
import type { ServicesFactory } from "../services";
import { indexRecorded, type IngestServices } from "./indexer";
import { giveUpOnDocuments, markProcessingStatement, pendingJobDocuments, recordAttemptStatement } from "./job-store";
import { IngestMessageSchema, type IngestMessage } from "./messages";
import { DEFAULT_VISIBILITY, type VisibilityOptions } from "./vector-writes";

/**
 * The ingestion queue's consumer and its dead-letter consumer.
 *
 * Retry design: each message (one job, ≤ 20 document ids) is acked once its documents are done,
 * skipped or permanently failed. A transient failure — origin unavailable or timing out, the
 * vector index failing or not yet showing the upserted vectors, D1 failing — records the error on
 * the documents' job rows and retries that message alone with exponential backoff and jitter
 * (`retryDelaySeconds`: ~30 s, 60 s, 120 s, 240 s, 480 s). After wrangler.toml's max_retries (5)
 * Queues moves it to the dead-letter queue, whose consumer marks those documents failed with the
 * last error and finishes the job (`failed`). Redelivery is harmless: documents already finished
 * are not touched again, and every write is idempotent and guarded by the content hash.
 */

export interface ConsumerOptions {
  visibility?: VisibilityOptions;
}

export const RETRY_BASE_SECONDS = 30;
export const RETRY_MAX_SECONDS = 3_600;

/** Backoff before the next delivery, for a message delivered `attempts` times (1-based): base·2^(n−1) ±20 %, capped. */
export function retryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** Math.max(0, attempts - 1));
  return Math.max(1, Math.min(RETRY_MAX_SECONDS, Math.round(exponential * (0.8 + 0.4 * random()))));
}

/** Dead-letter queues are named `…-dlq` / `…-dlq-<env>` in wrangler.toml. */
export const isDeadLetterQueue = (queue: string) => /(^|-)dlq($|-)/.test(queue);

export async function handleIngestBatch(batch: MessageBatch<unknown>, env: Bindings, servicesFor: ServicesFactory, options: ConsumerOptions = {}): Promise<void> {
  let services: IngestServices;
  let dimensions: number;
  try {
    const built = servicesFor(env);
    services = built;
    dimensions = built.config.EMBEDDING_DIMENSIONS;
  } catch (error) {
    // Misconfigured: nothing can succeed; keep the messages for when it is fixed.
    log.error("ingest consumer cannot start", errorFields(error));
    batch.retryAll({ delaySeconds: retryDelaySeconds(Math.max(...batch.messages.map((m) => m.attempts), 1)) });
    return;
  }

  // One message at a time: each is one origin call, and the origin is the scarce resource.
  for (const message of batch.messages) {
    const parsed = IngestMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      // Retrying cannot fix a malformed message; dropping it loses nothing (D1 still has the documents).
      log.error("ingest message malformed; dropped", { message_id: message.id });
      message.ack();
      continue;
    }
    const body = parsed.data;
    try {
      await processMessage(services, body, { dimensions, visibility: options.visibility ?? DEFAULT_VISIBILITY });
      metrics.ingestMessages.inc({ outcome: "ok" });
      message.ack();
    } catch (error) {
      const delaySeconds = retryDelaySeconds(message.attempts);
      const reason = clientSafeError(error);
      metrics.ingestMessages.inc({ outcome: "retry" });
      log.warn("ingest message failed; retrying", { job_id: body.job_id, tenant: body.tenant, attempts: message.attempts, delay_s: delaySeconds, ...errorFields(error) });
      await services.db
        .batch([recordAttemptStatement(services.db, body.tenant, body.job_id, body.document_ids, message.attempts, reason, Date.now())])
        .catch(() => {});
      message.retry({ delaySeconds });
    }
  }
}

async function processMessage(services: IngestServices, message: IngestMessage, options: { dimensions: number; visibility: VisibilityOptions }): Promise<void> {
  const { db } = services;
  const pending = await pendingJobDocuments(db, message.tenant, message.job_id, message.document_ids);
  if (pending.length === 0) return; // a redelivery of finished work, or a job of another tenant
  await db.batch([markProcessingStatement(db, message.tenant, message.job_id, Date.now())]);
  await indexRecorded(
    services,
    message.tenant,
    pending.map(({ documentId, contentHash }) => ({ documentId, contentHash })),
    { jobId: message.job_id, dimensions: options.dimensions, visibility: options.visibility },
  );
}

/** The dead-letter consumer: the messages that ran out of retries. Their documents fail with the last error. */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Bindings, servicesFor: ServicesFactory): Promise<void> {
  const { db } = servicesFor(env);
  for (const message of batch.messages) {
    const parsed = IngestMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      message.ack();
      continue;
    }
    const { tenant, job_id, document_ids } = parsed.data;
    try {
      await giveUpOnDocuments(db, tenant, job_id, document_ids, Date.now());
      metrics.ingestMessages.inc({ outcome: "dead_letter" });
      log.error("ingest message dead-lettered; documents marked failed", { job_id, tenant, documents: document_ids.length });
      message.ack();
    } catch (error) {
      log.error("dead-letter handling failed; retrying", { job_id, tenant, ...errorFields(error) });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
}

/** What a client may read about a failure (job errors): ApiError codes and details are written for clients; nothing else is. */
export function clientSafeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.detail}`;
  return "INTERNAL_ERROR: an unexpected error occurred while indexing";
}
