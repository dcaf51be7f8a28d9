import type { Bindings } from "../app-env";
import { ApiError } from "../errors";
import { errorFields, log } from "../logger";
import { metrics } from "../metrics";
import { createLimiter } from "../query/concurrency";
import type { Services, ServicesFactory } from "../services";
import { embedLoaded, finishRecorded, type IngestServices, type LoadedWork, loadRecorded } from "./indexer";
import { giveUpOnDocuments, markProcessingStatement, pendingJobDocuments, recordAttemptStatement } from "./job-store";
import { type IngestMessage, IngestMessageSchema, MAX_DOCUMENTS_PER_MESSAGE, MAX_TEXT_CHARS_PER_MESSAGE } from "./messages";
import { DEFAULT_VISIBILITY, type VisibilityOptions } from "./vector-writes";

/**
 * The ingestion queue's consumer and its dead-letter consumer.
 *
 * Throughput: one origin call per batch, not per message — whatever the client's batch size. The
 * messages' pending documents are read from D1 first, then packed into origin calls as large as
 * one full message (≤ 20 documents, ≤ 100k characters): a batch of ten one-document messages (a
 * client posting documents one by one) costs one origin call, like one message of ten. Then each
 * message goes on alone: its own vector upsert and D1 batch, acked or retried on its own. At most
 * MESSAGE_CONCURRENCY outgoing calls (D1, origin, vector index) are in flight at once, in arrival
 * order, so the origin gets the next call while earlier messages write.
 *
 * Retry design: each message (one job, ≤ 20 document ids) is acked once its documents are done,
 * skipped or permanently failed. A transient failure — origin unavailable or timing out, the
 * vector index failing or not yet showing the upserted vectors, D1 failing — records the error on
 * the documents' job rows and retries that message alone with exponential backoff and jitter
 * (`retryDelaySeconds`: ~30 s, 60 s, 120 s, 240 s, 480 s). After wrangler.toml's max_retries (5)
 * Queues moves it to the dead-letter queue, whose consumer marks those documents failed with the
 * last error and finishes the job (`failed`). Redelivery is harmless: documents already finished
 * are not touched again, and every write is idempotent and guarded by the document's version.
 *
 * Both consumers use the guarded services (D1 failures are StoreUnavailable). When the services
 * cannot be built (misconfigured), nothing can succeed: every message is kept for when it is fixed.
 * A malformed message is acked and dropped: retrying cannot fix it, and D1 still has the documents.
 */

export interface ConsumerOptions {
  visibility?: VisibilityOptions;
  /** A batch's steps in flight at once (default MESSAGE_CONCURRENCY). */
  concurrency?: number;
}

/**
 * A batch's steps in flight at once: a message's load, an origin call, a message's writes. Each
 * holds at most one outgoing connection at a time (D1, the origin or the vector index, in turn),
 * so 5 stays under the 6 connections a Worker invocation may have open; the subrequest budget is
 * in wrangler.toml.
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
  const limit = createLimiter(options.concurrency ?? MESSAGE_CONCURRENCY);
  // 1. Each message's pending documents (a message with none is done: a redelivery of finished work).
  const loaded = await Promise.all(
    batch.messages.map(async (message): Promise<Loaded | null> => {
      const body = parsedOrDropped(message);
      if (!body) return null;
      try {
        const load = await limit(() => loadMessage(services, body));
        if (load) return { message, body, load };
        acked(message);
      } catch (error) {
        await limit(() => retryLater(services, message, body, error));
      }
      return null;
    }),
  );
  // 2. One origin call per group, 3. then each message of the group on its own. Groups overlap:
  // while one group's messages write, the next group's origin call runs.
  await Promise.all(
    originCalls(loaded.filter((entry) => entry !== null)).map(async (group) => {
      const embeddings = await limit(() =>
        embedLoaded(
          services,
          group.map((entry) => entry.load),
          settings.dimensions,
        ),
      ).catch(async (error: unknown) => {
        await Promise.all(group.map(({ message, body }) => limit(() => retryLater(services, message, body, error))));
        return null;
      });
      if (!embeddings) return;
      await Promise.all(
        group.map(async ({ message, body, load }, i) => {
          try {
            await limit(() => finishRecorded(services, load, embeddings[i]!, { jobId: body.job_id, ...settings }));
            acked(message);
          } catch (error) {
            await limit(() => retryLater(services, message, body, error));
          }
        }),
      );
    }),
  );
}

interface Loaded {
  message: Message<unknown>;
  body: IngestMessage;
  load: LoadedWork;
}

/** Messages in order, packed into origin calls of at most one full message's documents and characters (a bigger message goes alone). */
export function originCalls<T extends { load: LoadedWork }>(messages: T[]): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let documents = 0;
  let chars = 0;
  for (const entry of messages) {
    const size = entry.load.work.length;
    const text = entry.load.work.reduce((sum, document) => sum + document.text.length, 0);
    if (current.length > 0 && (documents + size > MAX_DOCUMENTS_PER_MESSAGE || chars + text > MAX_TEXT_CHARS_PER_MESSAGE)) {
      groups.push(current);
      current = [];
      documents = 0;
      chars = 0;
    }
    current.push(entry);
    documents += size;
    chars += text;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function acked(message: Message<unknown>): void {
  metrics.ingestMessages.inc({ outcome: "ok" });
  message.ack();
}

/** A transient failure: the message is retried with backoff, and the error recorded on its job rows. */
async function retryLater(services: IngestServices, message: Message<unknown>, body: IngestMessage, error: unknown): Promise<void> {
  const delaySeconds = retryDelaySeconds(message.attempts);
  metrics.ingestMessages.inc({ outcome: "retry" });
  log.warn("ingest message failed; retrying", {
    job_id: body.job_id,
    tenant: body.tenant,
    attempts: message.attempts,
    delay_s: delaySeconds,
    ...errorFields(error),
  });
  const { db } = services;
  // Bookkeeping for GET /v1/jobs: if D1 is what failed, the retry happens all the same.
  const attempt = recordAttemptStatement(
    db,
    body.tenant,
    body.job_id,
    body.document_ids,
    message.attempts,
    clientSafeError(error),
    Date.now(),
  );
  await db.batch([attempt]).catch(() => {});
  message.retry({ delaySeconds });
}

/** The message's documents that its job still has queued, loaded; null when none is (a redelivery of finished work, or another tenant's job). */
async function loadMessage(services: IngestServices, message: IngestMessage): Promise<LoadedWork | null> {
  const { db } = services;
  const pending = await pendingJobDocuments(db, message.tenant, message.job_id, message.document_ids);
  if (pending.length === 0) return null;
  await db.batch([markProcessingStatement(db, message.tenant, message.job_id, Date.now())]);
  const targets = pending.map(({ documentId, contentHash }) => ({ documentId, contentHash }));
  return loadRecorded(db, message.tenant, targets);
}

/** The dead-letter consumer: the messages that ran out of retries. Their documents fail with the last error. */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, env: Bindings, servicesFor: ServicesFactory): Promise<void> {
  const services = servicesOrRetryAll(batch, env, servicesFor, "dead-letter consumer");
  if (!services) return;
  for (const message of batch.messages) {
    const body = parsedOrDropped(message);
    if (!body) continue;
    const { tenant, job_id, document_ids } = body;
    try {
      await giveUpOnDocuments(services.db, tenant, job_id, document_ids, Date.now());
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
function parsedOrDropped(message: Message<unknown>): IngestMessage | null {
  const parsed = IngestMessageSchema.safeParse(message.body);
  if (parsed.success) return parsed.data;
  log.error("ingest message malformed; dropped", { message_id: message.id });
  message.ack();
  return null;
}

/** What a client may read about a failure (job errors): ApiError codes and details are written for clients; nothing else is. */
export function clientSafeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.detail}`;
  return "INTERNAL_ERROR: an unexpected error occurred while indexing";
}
