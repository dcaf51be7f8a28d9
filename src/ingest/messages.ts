import { z } from "@hono/zod-openapi";
import { MAX_SHARDS } from "../tenant/tenant-shards";
import { packInOrder } from "./packing";

const shardSchema = () =>
  z
    .number()
    .int()
    .min(0)
    .max(MAX_SHARDS - 1);

/**
 * The ingestion queue's messages. They carry ids only — the text stays in the tenant's object,
 * the source of truth — so a message is tiny (≤ 20 ids of ≤ 128 characters) and a consumer always indexes the
 * document's current content, never a stale copy. Each schema is built on its first parse (z.lazy),
 * not at module load: a new isolate's startup builds no schema (worker.ts).
 */
export const IngestMessageSchema = z.lazy(() =>
  z.object({
    v: z.literal(1),
    tenant: z.string().min(1).max(64),
    /** The tenant's shard that holds the documents (tenant-shards.ts); absent for shard 0. */
    shard: shardSchema().optional(),
    job_id: z.string().min(1).max(64),
    document_ids: z.array(z.string().min(1).max(128)).min(1).max(100),
  }),
);

export type IngestMessage = z.infer<typeof IngestMessageSchema>;

/**
 * A tenant's object asks for a sweep (its alarm, tenant-data.ts): re-enqueue the tenant's jobs
 * whose messages never arrived or were lost, delete its recorded vector ids that are due.
 */
export const SweepMessageSchema = z.lazy(() =>
  z.object({ v: z.literal(1), tenant: z.string().min(1).max(64), shard: shardSchema().optional(), sweep: z.literal(true) }),
);

export type SweepMessage = z.infer<typeof SweepMessageSchema>;

/**
 * A bucket sync run for the tenant (bucket-sync.ts): the cron's (`scheduled`: continue the run in
 * progress or start one) or POST /v1/sync/run's and a paused run's continuation (`generation`: that
 * run only, never a new one).
 */
export const SyncMessageSchema = z.lazy(() =>
  z.object({
    v: z.literal(1),
    tenant: z.string().min(1).max(64),
    sync: z.enum(["manual", "scheduled"]),
    generation: z.number().int().positive().optional(),
  }),
);

export type SyncMessage = z.infer<typeof SyncMessageSchema>;

/** Everything the ingestion queue carries (a message of an earlier deployment still parses: each kind is added, none changed). */
export const QueueMessageSchema = z.lazy(() => z.union([IngestMessageSchema, SweepMessageSchema, SyncMessageSchema]));

/** Documents per message: one origin /v1/ingest call each. */
export const MAX_DOCUMENTS_PER_MESSAGE = 20;
/** Characters of text per message (a longer document travels alone), so one origin call stays well inside its timeout. */
export const MAX_TEXT_CHARS_PER_MESSAGE = 100_000;

/** Cloudflare Queues: ≤ 100 messages and ≤ 256 KB per sendBatch, ≤ 128 KB per message (1 KB = 1000 bytes, ~100 bytes of it internal metadata). */
export const QUEUE_LIMITS = {
  maxBatchMessages: 100,
  maxBatchBytes: 256_000,
  maxMessageBytes: 128_000,
  metadataBytesPerMessage: 100,
} as const;

/** Splits a job's documents (of one shard) into messages by count and text size, preserving order. */
export function planMessages(
  tenant: string,
  jobId: string,
  documents: Array<{ id: string; textLength: number }>,
  shard = 0,
): IngestMessage[] {
  const messages: IngestMessage[] = [];
  let ids: string[] = [];
  let chars = 0;
  const flush = () => {
    if (ids.length > 0) messages.push({ v: 1, tenant, ...(shard === 0 ? {} : { shard }), job_id: jobId, document_ids: ids });
    ids = [];
    chars = 0;
  };
  for (const document of documents) {
    if (ids.length >= MAX_DOCUMENTS_PER_MESSAGE || (ids.length > 0 && chars + document.textLength > MAX_TEXT_CHARS_PER_MESSAGE)) flush();
    ids.push(document.id);
    chars += document.textLength;
  }
  flush();
  return messages;
}

const messageBytes = (message: IngestMessage) =>
  new TextEncoder().encode(JSON.stringify(message)).length + QUEUE_LIMITS.metadataBytesPerMessage;

/** Groups messages into sendBatch calls within Queues' per-batch limits. */
export function planSendBatches(messages: IngestMessage[]): IngestMessage[][] {
  const { groups, oversized } = packInOrder(messages, messageBytes, {
    maxBytes: QUEUE_LIMITS.maxBatchBytes,
    maxItems: QUEUE_LIMITS.maxBatchMessages,
  });
  const tooLarge = [...groups.flat(), ...oversized].map(messageBytes).find((size) => size > QUEUE_LIMITS.maxMessageBytes);
  if (tooLarge !== undefined)
    throw new RangeError(`an ingest message is ${tooLarge} bytes; the queue accepts ${QUEUE_LIMITS.maxMessageBytes}`);
  return groups;
}

/** Sends the messages in as few sendBatch calls as the limits allow; rejects on the first failed call. */
export async function sendMessages(queue: Queue, messages: IngestMessage[]): Promise<void> {
  for (const batch of planSendBatches(messages)) {
    await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
  }
}
