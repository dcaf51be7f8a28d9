import type { Bindings } from "../bindings";
import { clientSafeError } from "../errors";
import { errorFields, log } from "../logger";
import { metrics } from "../metrics";
import { mapWithConcurrency } from "../query/concurrency";
import type { Services, ServicesFactory } from "../services";
import { type IngestMessage, QueueMessageSchema, type SweepMessage, type SyncMessage } from "./messages";
import { DEFAULT_VISIBILITY, type VisibilityOptions } from "./vector-writes";

/**
 * The ingestion queue's consumer and its dead-letter consumer.
 *
 * Throughput: a batch's messages are indexed concurrently (MESSAGE_CONCURRENCY), each on its own:
 * its own origin call, vector upsert and commit to the tenant's object, acked or retried alone.
 *
 * Retry design: each message (one job, ≤ 20 document ids) is acked once its documents are done,
 * skipped or permanently failed. A transient failure — origin unavailable or timing out, the
 * vector index failing or not yet showing the upserted vectors, the tenant's object failing — records the error on
 * the documents' job rows and retries that message alone with exponential backoff and jitter
 * (`retryDelaySeconds`: ~30 s, 60 s, 120 s, 240 s, 480 s). After wrangler.toml's max_retries (5)
 * Queues moves it to the dead-letter queue, whose consumer marks those documents failed with the
 * last error and finishes the job (`failed`). Redelivery is harmless: documents already finished
 * are not touched again, and every write is idempotent and guarded by the document's version.
 *
 * Both consumers use the guarded services (the object's failures are StoreUnavailable). When the services
 * cannot be built (misconfigured), nothing can succeed: every message is kept for when it is fixed.
 * A malformed message is acked and dropped: retrying cannot fix it, and the tenant's object still
 * has the documents. Sweep messages (a tenant's object asks for one) run IngestService.sweep; sync
 * messages (the cron, POST /v1/sync/run) work on the tenant's bucket sync run (bucket-sync.ts).
 */

export interface ConsumerOptions {
  visibility?: VisibilityOptions;
  /** Messages of a batch in flight at once (default MESSAGE_CONCURRENCY). */
  concurrency?: number;
}

/**
 * Messages of one batch indexed at once. Each holds at most one outgoing connection at a time
 * (the tenant's object, the vector index or the origin, in turn), so 5 stays under the 6 connections a Worker
 * invocation may have open; the subrequest budget is per message (see wrangler.toml).
 */
export const MESSAGE_CONCURRENCY = 5;

export const RETRY_BASE_SECONDS = 30;
export const RETRY_MAX_SECONDS = 3_600;

/** Backoff before the next delivery, for a message delivered `attempts` times (1-based): base·2^(n−1) ±20 %, capped. */
export function retryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** Math.max(0, attempts - 1));
  return Math.max(1, Math.min(RETRY_MAX_SECONDS, Math.round(exponential * (0.8 + 0.4 * random()))));
}

/** Dead-letter queues are named `…-dlq` / `…-dlq-<env>` in wrangler.toml. */
export const isDeadLetterQueue = (queue: string) => /(^|-)dlq($|-)/.test(queue);

export async function handleIngestBatch(
  batch: MessageBatch<unknown>,
  env: Bindings,
  servicesFor: ServicesFactory,
  options: ConsumerOptions = {},
): Promise<void> {
  const services = servicesOrRetryAll(batch, env, servicesFor, "ingest consumer");
  if (!services) return;
  const settings = { dimensions: services.config.EMBEDDING_DIMENSIONS, visibility: options.visibility ?? DEFAULT_VISIBILITY };
  // Messages overlap: while one waits for the origin, others write vectors and commit, so the origin
  // (the scarce resource) always has the next documents queued instead of idling between messages.
  await mapWithConcurrency(batch.messages, options.concurrency ?? MESSAGE_CONCURRENCY, async (message) => {
    const body = parsedOrDropped(message);
    if (!body) return;
    if ("sweep" in body) await sweep(services, message, body);
    else if ("sync" in body) await sync(services, message, body);
    else await consume(services, message, body, settings);
  });
}

/** One message: acked once its documents are settled; on a transient failure, retried with backoff and the error recorded on its job rows. */
async function consume(services: Services, message: Message<unknown>, body: IngestMessage, settings: IndexSettings): Promise<void> {
  try {
    await services.ingest.index(body, settings);
    metrics.ingestMessages.inc({ outcome: "ok" });
    message.ack();
  } catch (error) {
    const delaySeconds = retryDelaySeconds(message.attempts);
    metrics.ingestMessages.inc({ outcome: "retry" });
    log.warn("ingest message failed; retrying", {
      job_id: body.job_id,
      tenant: body.tenant,
      attempts: message.attempts,
      delay_s: delaySeconds,
      ...errorFields(error),
    });
    // Bookkeeping for GET /v1/jobs: if the tenant's object is what failed, the retry happens all the same.
    await services
      .tenantData(body.tenant)
      .shard(body.shard ?? 0)
      .recordAttempt(body.job_id, body.document_ids, message.attempts, clientSafeError(error), Date.now())
      .catch(() => {});
    message.retry({ delaySeconds });
  }
}

/** A sweep the tenant's object asked for (its alarm); acked once done, retried when the object or the queue failed. */
async function sweep(services: Services, message: Message<unknown>, body: SweepMessage): Promise<void> {
  try {
    await services.ingest.sweep(body.tenant, Date.now(), body.shard ?? 0);
    message.ack();
  } catch (error) {
    log.warn("sweep failed; retrying", { tenant: body.tenant, attempts: message.attempts, ...errorFields(error) });
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}

/**
 * A bucket sync run (bucket-sync.ts), worked on under the message's id as its lease: acked once the
 * run is done, paused (its continuation enqueued) or not this message's to work on; retried when the
 * object, the bucket or the queue failed, and the retry resumes it from its cursor.
 */
async function sync(services: Services, message: Message<unknown>, body: SyncMessage): Promise<void> {
  try {
    const result = await services.bucketSync.run(body.tenant, { holder: message.id, trigger: body.sync, generation: body.generation });
    if (result.status !== "skipped") log.info("bucket sync", { tenant: body.tenant, ...result });
    message.ack();
  } catch (error) {
    log.warn("bucket sync failed; retrying", { tenant: body.tenant, attempts: message.attempts, ...errorFields(error) });
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}

interface IndexSettings {
  dimensions: number;
  visibility: VisibilityOptions;
}

/** The dead-letter consumer: the messages that ran out of retries. Their documents fail with the last error. */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Bindings, servicesFor: ServicesFactory): Promise<void> {
  const services = servicesOrRetryAll(batch, env, servicesFor, "dead-letter consumer");
  if (!services) return;
  for (const message of batch.messages) {
    const body = parsedOrDropped(message);
    if (!body) continue;
    // A sweep that ran out of retries is dropped: the object's alarm asks for another; a sync run
    // is continued from its cursor by the next cron trigger, once its lease ends.
    if ("sweep" in body || "sync" in body) {
      log.error(`${"sweep" in body ? "sweep" : "bucket sync"} dead-lettered; dropped`, { tenant: body.tenant });
      message.ack();
      continue;
    }
    const { tenant, job_id, document_ids } = body;
    try {
      await services
        .tenantData(tenant)
        .shard(body.shard ?? 0)
        .giveUp(job_id, document_ids, Date.now());
      // A tenant of several shards: the job's event, once every part has settled (else the sweep's).
      await services
        .tenantData(tenant)
        .settleJobEvent(job_id, body.shard ?? 0)
        .catch(() => {});
      metrics.ingestMessages.inc({ outcome: "dead_letter" });
      log.error("ingest message dead-lettered; documents marked failed", { job_id, tenant, documents: document_ids.length });
      message.ack();
    } catch (error) {
      log.error("dead-letter handling failed; retrying", { job_id, tenant, ...errorFields(error) });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
}

/** The services, or null — every message then retried later — when they cannot be built. */
function servicesOrRetryAll(batch: MessageBatch<unknown>, env: Bindings, servicesFor: ServicesFactory, consumer: string): Services | null {
  try {
    return servicesFor(env);
  } catch (error) {
    log.error(`${consumer} cannot start`, errorFields(error));
    batch.retryAll({ delaySeconds: retryDelaySeconds(Math.max(...batch.messages.map((m) => m.attempts), 1)) });
    return null;
  }
}

/** The message's body, or null once a malformed message is acked (dropped). */
function parsedOrDropped(message: Message<unknown>): IngestMessage | SweepMessage | SyncMessage | null {
  const parsed = QueueMessageSchema.safeParse(message.body);
  if (parsed.success) return parsed.data;
  log.error("ingest message malformed; dropped", { message_id: message.id });
  message.ack();
  return null;
}

// What a client may read about a failure: errors.ts (bucket sync's records use it too).
export { clientSafeError };
