import { createExecutionContext, createMessageBatch, env, getQueueResult, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import {
  handleDeadLetterBatch,
  handleIngestBatch,
  isDeadLetterQueue,
  RETRY_BASE_SECONDS,
  retryDelaySeconds,
} from "../../src/ingest/consumer";
import { acceptDocuments } from "../../src/ingest/document-store";
import { ENQUEUE_GRACE_MS } from "../../src/ingest/ingest-service";
import { type IngestMessage, planMessages, planSendBatches, QUEUE_LIMITS } from "../../src/ingest/messages";
import { PENDING_VECTOR_GRACE_MS, purgeDeletedVectors, upsertVectors, waitUntilVisible } from "../../src/ingest/vector-writes";
import worker, { localServices } from "../../src/local";
import type { ServicesFactory } from "../../src/services";
import { call, createKey, DEAD_ORIGIN, json, servicesWith, tenantFirst, tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { chunkRows, indexVersion, type JobBody, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

/**
 * The queue consumer, its dead-letter consumer and the sweep, invoked the way Queues and the
 * tenant's object (its alarm) invoke them (createMessageBatch / getQueueResult,
 * runDurableObjectAlarm), against the tenant's real object, the real local vector index and the real origin — or an origin URL where nothing listens, to force the failure paths.
 */

const INGEST_QUEUE = "edge-rag-ingest";
const DLQ = "edge-rag-ingest-dlq";
const deadOriginEnv = () => ({ ...env, ORIGIN_URLS: DEAD_ORIGIN });

let messageCounter = 0;
function batchOf(queue: string, bodies: unknown[], attempts = 1) {
  return createMessageBatch(
    queue,
    bodies.map((body) => ({ id: `msg-${Date.now()}-${messageCounter++}`, timestamp: new Date(), attempts, body })),
  );
}

/**
 * The batch as the handler sees it, plus the delay each retry() asked for (getQueueResult does not
 * report delays). Every call is forwarded to the real message, so getQueueResult stays exact.
 */
function observed(batch: MessageBatch) {
  const delays = new Map<string, number | undefined>();
  const messages = batch.messages.map((message) => ({
    id: message.id,
    timestamp: message.timestamp,
    body: message.body,
    attempts: message.attempts,
    ack: () => message.ack(),
    retry: (options?: QueueRetryOptions) => {
      delays.set(message.id, options?.delaySeconds);
      message.retry(options);
    },
  }));
  const view = {
    queue: batch.queue,
    messages,
    ackAll: () => batch.ackAll(),
    retryAll: (options?: QueueRetryOptions) => batch.retryAll(options),
  };
  return { view: view as unknown as MessageBatch, delays };
}

async function runQueue(queue: string, bodies: unknown[], options: { env?: object; attempts?: number } = {}) {
  const batch = batchOf(queue, bodies, options.attempts);
  const { view, delays } = observed(batch as MessageBatch);
  const ctx = createExecutionContext();
  await worker.queue!(view, (options.env ?? env) as typeof env);
  return { ...(await getQueueResult(batch, ctx)), delays: [...delays.values()] };
}

const ROOMY = { maxDocuments: 1e9, maxBytes: 1e12, maxChunks: 1e9 };

/**
 * Records documents and their job in the tenant's object exactly as POST /v1/documents does,
 * without enqueueing (the test delivers the messages). `enqueued: false` leaves the job as a POST
 * whose queue send never happened.
 */
async function recordJob(
  tenant: string,
  documents: Array<{ id: string; text: string; metadata?: Record<string, string | number | boolean> }>,
  options: { collection?: string; now?: number; enqueued?: boolean } = {},
) {
  const prepared = await acceptDocuments(documents, options.collection);
  const jobId = `job_${crypto.randomUUID().replaceAll("-", "")}`;
  const now = options.now ?? Date.now();
  const stub = tenantObject(tenant);
  const accepted = await stub.accept({ documents: prepared, job: { id: jobId }, quota: ROOMY, now });
  if (!accepted.ok) throw new Error(accepted.detail);
  // Marked enqueued: the message is in the test's hands, not the sweep's.
  if (options.enqueued !== false) await stub.markEnqueued(jobId, now);
  const messages = planMessages(
    tenant,
    jobId,
    accepted.documents.filter((d) => !d.unchanged).map((d) => ({ id: d.id, textLength: d.textLength })),
  );
  return { jobId, prepared, messages };
}

async function jobOf(tenant: string, jobId: string): Promise<JobBody> {
  const { key } = await createKey(tenant, ["writer"]);
  const response = await call(`/v1/jobs/${jobId}`, { auth: key });
  expect(response.status).toBe(200);
  return json<JobBody>(response);
}

const documentRow = (tenant: string, id: string) =>
  tenantFirst<{ status: string; error: string | null; content_hash: string; indexed_hash: string | null; chunk_count: number }>(
    tenant,
    "SELECT status, error, content_hash, indexed_hash, chunk_count FROM documents WHERE id = ?1",
    id,
  );

const jobDocumentRow = (tenant: string, jobId: string, id: string) =>
  tenantFirst<{ status: string; attempts: number; error: string | null; chunks: number }>(
    tenant,
    "SELECT status, attempts, error, chunks FROM job_documents WHERE job_id = ?1 AND document_id = ?2",
    jobId,
    id,
  );

const vectorIndex = () => localServices(env).vectors;

/**
 * Vectorize's eventual consistency, simulated on top of the real local index: a mutation becomes
 * visible to getByIds/query/describe only `lagMs` after upsert() returned (Infinity: never).
 */
function eventuallyConsistent(inner: Vectorize, lagMs: number): Vectorize {
  const visibleAt = new Map<string, number>();
  const mutations: Array<{ id: string; at: number }> = [];
  const visible = (id: string) => (visibleAt.get(id) ?? 0) <= Date.now();
  return {
    describe: async () => {
      const info = (await inner.describe()) as unknown as Record<string, unknown>;
      const processed = mutations.filter((m) => m.at <= Date.now()).at(-1);
      return { ...info, processedUpToMutation: processed?.id ?? null } as unknown as VectorizeIndexInfo;
    },
    upsert: async (vectors) => {
      const result = await inner.upsert(vectors);
      const at = Date.now() + lagMs;
      for (const vector of vectors) visibleAt.set(vector.id, at);
      mutations.push({ id: result.mutationId, at });
      return result;
    },
    insert: (vectors) => inner.insert(vectors),
    deleteByIds: (ids) => inner.deleteByIds(ids),
    getByIds: async (ids) => (await inner.getByIds(ids)).filter((vector) => visible(vector.id)),
    query: async (vector, options) => {
      const result = await inner.query(vector, options);
      const matches = result.matches.filter((match) => visible(match.id));
      return { ...result, matches, count: matches.length };
    },
    queryById: async (id, options) => {
      const result = await inner.queryById(id, options);
      const matches = result.matches.filter((match) => visible(match.id));
      return { ...result, matches, count: matches.length };
    },
  };
}

/** A Vectorize that forwards every call to `inner`, except those `overrides` replaces. */
function forwarding(inner: Vectorize, overrides: Partial<Vectorize>): Vectorize {
  return {
    describe: () => inner.describe(),
    query: (vector, options) => inner.query(vector, options),
    queryById: (id, options) => inner.queryById(id, options),
    insert: (vectors) => inner.insert(vectors),
    upsert: (vectors) => inner.upsert(vectors),
    getByIds: (ids) => inner.getByIds(ids),
    deleteByIds: (ids) => inner.deleteByIds(ids),
    ...overrides,
  };
}

const recordedForDeletion = async (tenant: string) =>
  (await tenantSql<{ id: string }>(tenant, "SELECT id FROM vector_deletions ORDER BY id")).map((row) => row.id);

describe("retry backoff (happy)", () => {
  it("doubles from ~30 s per delivery with ±20 % jitter, capped at an hour", () => {
    for (const [attempts, base] of [
      [1, 30],
      [2, 60],
      [3, 120],
      [5, 480],
    ] as const) {
      expect(retryDelaySeconds(attempts, () => 0)).toBe(Math.round(base * 0.8));
      expect(retryDelaySeconds(attempts, () => 0.5)).toBe(base);
      expect(retryDelaySeconds(attempts, () => 0.999999)).toBe(Math.round(base * 1.2));
    }
    expect(retryDelaySeconds(40, () => 0.5)).toBe(3600);
    expect(RETRY_BASE_SECONDS).toBe(30);
  });
});

describe("queue routing (happy)", () => {
  it("sends the dead-letter queues of every environment to the dead-letter consumer, and only those", () => {
    for (const queue of ["edge-rag-ingest-dlq", "edge-rag-ingest-dlq-staging"]) expect(isDeadLetterQueue(queue)).toBe(true);
    for (const queue of ["edge-rag-ingest", "edge-rag-ingest-staging"]) expect(isDeadLetterQueue(queue)).toBe(false);
  });
});

describe("message planning (happy)", () => {
  it("keeps messages to ≤ 20 documents and ~100k characters, and send batches within Queues' limits", () => {
    const documents = Array.from({ length: 1000 }, (_, i) => ({
      id: `${"x".repeat(120)}-${i}`,
      textLength: i % 50 === 0 ? 400_000 : 1000,
    }));
    const messages = planMessages("t", "job_x", documents);
    expect(messages.flatMap((m) => m.document_ids)).toEqual(documents.map((d) => d.id));
    for (const message of messages) {
      expect(message.document_ids.length).toBeLessThanOrEqual(20);
      const chars = message.document_ids.reduce((sum, id) => sum + documents.find((d) => d.id === id)!.textLength, 0);
      expect(message.document_ids.length === 1 || chars <= 100_000).toBe(true);
    }
    const batches = planSendBatches(messages);
    expect(batches.flat()).toEqual(messages);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(QUEUE_LIMITS.maxBatchMessages);
      const bytes = batch.reduce(
        (sum, m) => sum + new TextEncoder().encode(JSON.stringify(m)).length + QUEUE_LIMITS.metadataBytesPerMessage,
        0,
      );
      expect(bytes).toBeLessThanOrEqual(QUEUE_LIMITS.maxBatchBytes);
    }
    // 1000 small documents need 50 messages: one sendBatch.
    expect(
      planSendBatches(
        planMessages(
          "t",
          "j",
          documents.map((d) => ({ ...d, textLength: 10 })),
        ),
      ),
    ).toHaveLength(1);
  });
});

describe("vector writes within Vectorize's limits (happy)", () => {
  it("upserts 2,500 vectors in ≤ 1000-vector mutations, confirms them visible, and purges 250 recorded ids in ≤ 100-id deletes", async () => {
    const tenant = uniqueTenant("vec-limits");
    const vectors = vectorIndex();
    const dimensions = loadConfig(env).EMBEDDING_DIMENSIONS;
    const upserts: number[] = [];
    const deletes: number[] = [];
    const counting: Vectorize = {
      describe: () => vectors.describe(),
      getByIds: (ids) => vectors.getByIds(ids),
      query: (v, o) => vectors.query(v, o),
      queryById: (id, o) => vectors.queryById(id, o),
      insert: (v) => vectors.insert(v),
      upsert: (v) => {
        upserts.push(v.length);
        return vectors.upsert(v);
      },
      deleteByIds: (ids) => {
        deletes.push(ids.length);
        return vectors.deleteByIds(ids);
      },
    };
    const items = Array.from({ length: 2_500 }, (_, i) => ({
      id: `c_${tenant.replaceAll(/[^a-z0-9]/g, "").slice(0, 20)}${String(i).padStart(6, "0")}`,
      values: Array.from({ length: dimensions }, (_, d) => Math.sin(i + d)),
      namespace: tenant,
    }));
    const receipts = await upsertVectors(counting, items);
    expect(upserts).toEqual([1000, 1000, 500]);
    expect(receipts.map((r) => r.probeId)).toEqual([items[999]!.id, items[1999]!.id, items[2499]!.id]);
    await waitUntilVisible(counting, receipts, { timeoutMs: 1_000 });

    const doomed = items.slice(0, 250).map((item) => item.id);
    await tenantObject(tenant).recordPendingVectors(doomed, Date.now());
    expect(await purgeDeletedVectors(tenantObject(tenant), counting)).toBe(250);
    expect(deletes).toEqual([100, 100, 50]);
    expect(await vectors.getByIds(doomed.slice(0, 20))).toEqual([]);
    expect(await vectors.getByIds([items[250]!.id])).toHaveLength(1);
    // Tidy the shared local index.
    for (let i = 250; i < items.length; i += 100) await vectors.deleteByIds(items.slice(i, i + 100).map((item) => item.id));
  });
});

describe("consumer — origin down (error)", () => {
  it("retries the message with exponential delay, records the error, and writes nothing", async () => {
    const tenant = uniqueTenant("retry");
    const { jobId, messages } = await recordJob(tenant, [{ id: "r1", text: PARAGRAPHS.glaciers }]);

    const first = await runQueue(INGEST_QUEUE, messages, { env: deadOriginEnv(), attempts: 1 });
    expect(first.explicitAcks).toEqual([]);
    expect(first.retryMessages).toHaveLength(1);
    expect(first.delays[0]).toBeGreaterThanOrEqual(24);
    expect(first.delays[0]).toBeLessThanOrEqual(36);

    const third = await runQueue(INGEST_QUEUE, messages, { env: deadOriginEnv(), attempts: 3 });
    expect(third.retryMessages).toHaveLength(1);
    expect(third.delays[0]).toBeGreaterThanOrEqual(96);
    expect(third.delays[0]).toBeLessThanOrEqual(144);

    expect(await jobDocumentRow(tenant, jobId, "r1")).toMatchObject({
      status: "queued",
      attempts: 3,
      error: expect.stringMatching(/^ORIGIN_(UNAVAILABLE|TIMEOUT): /),
    });
    expect(await documentRow(tenant, "r1")).toMatchObject({ status: "queued", indexed_hash: null, chunk_count: 0 });
    expect(await chunkRows(tenant, "r1")).toEqual([]);
    const job = await jobOf(tenant, jobId);
    expect(job).toMatchObject({ status: "processing", processed: 0, failed: 0, errors: [] });
    expect(await indexVersion(tenant)).toBe(0);
  });

  it("acks (drops) a malformed message instead of retrying it forever", async () => {
    const result = await runQueue(INGEST_QUEUE, [{ hello: "world" }, "text", null]);
    expect(result.explicitAcks).toHaveLength(3);
    expect(result.retryMessages).toEqual([]);
  });
});

describe("consumers — misconfigured (error)", () => {
  it("keep every message of either queue for later when the services cannot be built", async () => {
    const broken: ServicesFactory = () => {
      throw new Error("EMBEDDING_DIMENSIONS must be a positive integer");
    };
    const body: IngestMessage = { v: 1, tenant: uniqueTenant("broken"), job_id: "job_x", document_ids: ["d"] };
    for (const [queue, handle] of [
      [INGEST_QUEUE, handleIngestBatch],
      [DLQ, handleDeadLetterBatch],
    ] as const) {
      const batch = batchOf(queue, [body], 2);
      await handle(batch as MessageBatch, env, broken);
      const result = await getQueueResult(batch, createExecutionContext());
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryBatch.retry).toBe(true);
    }
  });
});

describe("dead-letter queue (error)", () => {
  it("marks the documents failed with the last error and the job failed; GET /v1/jobs reports them", async () => {
    const tenant = uniqueTenant("dlq");
    const { jobId, messages } = await recordJob(tenant, [
      { id: "d1", text: PARAGRAPHS.printing },
      { id: "d2", text: PARAGRAPHS.lighthouse },
    ]);
    for (let attempts = 1; attempts <= 6; attempts++) {
      const result = await runQueue(INGEST_QUEUE, messages, { env: deadOriginEnv(), attempts });
      expect(result.retryMessages).toHaveLength(1);
    }
    // Queues moves the message to the DLQ after max_retries; its consumer gives up on the documents.
    const dead = await runQueue(DLQ, messages);
    expect(dead.explicitAcks).toHaveLength(1);

    const job = await jobOf(tenant, jobId);
    expect(job).toMatchObject({ status: "failed", documents: 2, processed: 0, failed: 2, skipped: 0 });
    expect(job.errors.map((e) => e.document_id)).toEqual(["d1", "d2"]);
    for (const error of job.errors)
      expect(error.error).toMatch(/^gave up after 6 attempt\(s\); last error: ORIGIN_(UNAVAILABLE|TIMEOUT): /);
    expect(await documentRow(tenant, "d1")).toMatchObject({ status: "failed", error: expect.stringMatching(/^gave up after 6/) });
    const { key } = await createKey(tenant, ["reader"]);
    expect(await json(await call("/v1/documents/d2", { auth: key }))).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/ORIGIN_/),
    });

    // A second delivery of the dead letter changes nothing.
    await runQueue(DLQ, messages);
    expect(await jobOf(tenant, jobId)).toMatchObject({ status: "failed", failed: 2, errors: job.errors });
  });

  it("does not fail a document that a newer version superseded meanwhile: the old job's row is skipped", async () => {
    const tenant = uniqueTenant("dlq-super");
    const old = await recordJob(tenant, [{ id: "s", text: PARAGRAPHS.volcano }]);
    await recordJob(tenant, [{ id: "s", text: PARAGRAPHS.glaciers }]);
    await runQueue(DLQ, old.messages);
    expect(await jobOf(tenant, old.jobId)).toMatchObject({ status: "done", skipped: 1, failed: 0 });
    expect(await documentRow(tenant, "s")).toMatchObject({ status: "queued", error: null });
  });
});

describe("consumer — deleted or superseded while queued (happy)", () => {
  it("skips a document deleted while its message waited, without calling the origin or resurrecting it", async () => {
    const tenant = uniqueTenant("deleted");
    const { jobId, messages } = await recordJob(tenant, [{ id: "x", text: PARAGRAPHS.volcano }]);
    const { key } = await createKey(tenant, ["writer"]);
    expect((await call("/v1/documents/x", { method: "DELETE", auth: key })).status).toBe(204);

    // The origin is unreachable: success proves nothing was embedded.
    const result = await runQueue(INGEST_QUEUE, messages, { env: deadOriginEnv() });
    expect(result.explicitAcks).toHaveLength(1);
    expect(await documentRow(tenant, "x")).toBeNull();
    expect(await chunkRows(tenant, "x")).toEqual([]);
    expect(await jobOf(tenant, jobId)).toMatchObject({ status: "done", processed: 0, skipped: 1 });
  });

  it("skips a document superseded by a newer version: the older job never overwrites the newer content", async () => {
    const tenant = uniqueTenant("superseded");
    const older = await recordJob(tenant, [{ id: "v", text: PARAGRAPHS.volcano }]);
    const newer = await recordJob(tenant, [{ id: "v", text: PARAGRAPHS.lighthouse }]);

    const stale = await runQueue(INGEST_QUEUE, older.messages, { env: deadOriginEnv() });
    expect(stale.explicitAcks).toHaveLength(1);
    expect(await jobOf(tenant, older.jobId)).toMatchObject({ status: "done", skipped: 1, processed: 0 });
    expect(await documentRow(tenant, "v")).toMatchObject({ status: "queued", content_hash: newer.prepared[0]!.hash });
  });
});

describe("consumer — with the real origin (happy)", () => {
  it("indexes a job's documents: chunks and FTS5 in the tenant's object, vectors in the tenant's namespace, version bumped, model stored", async () => {
    const tenant = uniqueTenant("consume");
    const { jobId, messages } = await recordJob(
      tenant,
      [
        { id: "p1", text: PARAGRAPHS.printing, metadata: { lang: "en", century: 15 } },
        { id: "p2", text: PARAGRAPHS.glaciers, metadata: { lang: "en" } },
      ],
      { collection: "library" },
    );
    const result = await runQueue(INGEST_QUEUE, messages);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);

    const job = await jobOf(tenant, jobId);
    expect(job).toMatchObject({ status: "done", documents: 2, processed: 2, failed: 0, skipped: 0 });
    const chunks = await chunkRows(tenant, "p1");
    expect(job.chunks).toBe(chunks.length + (await chunkRows(tenant, "p2")).length);
    expect(await indexVersion(tenant)).toBe(1);

    const vectors = await vectorIndex().getByIds(chunks.map((c) => c.id));
    expect(vectors).toHaveLength(chunks.length);
    expect(vectors[0]).toMatchObject({
      namespace: tenant,
      metadata: { document_id: "p1", collection: "library", lang: "en", century: 15 },
    });
    expect(vectors[0]!.values).toHaveLength(loadConfig(env).EMBEDDING_DIMENSIONS);

    const fts = await tenantSql<{ id: string }>(
      tenant,
      "SELECT chunks.document_id AS id FROM kw JOIN chunks ON chunks.seq = kw.rowid WHERE kw MATCH 'Gutenberg'",
    );
    expect(fts.map((r) => r.id)).toContain("p1");
    expect((await tenantObject(tenant).stats()).embedding_model).toEqual(expect.any(String));
  });

  it("is idempotent under redelivery: the same message twice writes the same chunks and counts once", async () => {
    const tenant = uniqueTenant("redeliver");
    const { jobId, messages } = await recordJob(tenant, [{ id: "once", text: PARAGRAPHS.lighthouse }]);
    await runQueue(INGEST_QUEUE, messages);
    const chunks = await chunkRows(tenant, "once");
    const job = await jobOf(tenant, jobId);
    const version = await indexVersion(tenant);

    const again = await runQueue(INGEST_QUEUE, messages, { attempts: 2 });
    expect(again.explicitAcks).toHaveLength(1);
    expect(await chunkRows(tenant, "once")).toEqual(chunks);
    expect((await tenantObject(tenant).stats()).chunks).toBe(chunks.length);
    expect(await jobOf(tenant, jobId)).toMatchObject({ status: "done", processed: 1, chunks: job.chunks });
    expect(await indexVersion(tenant)).toBe(version);
  });

  it("is idempotent when the first delivery crashed after writing vectors: the retry converges to one copy", async () => {
    const tenant = uniqueTenant("half");
    const { jobId, messages } = await recordJob(tenant, [{ id: "h", text: PARAGRAPHS.volcano }]);
    // First delivery: vectors upserted but never visible, so the commit never ran.
    const lagging = servicesWith({ vectors: eventuallyConsistent(vectorIndex(), Infinity) });
    const batch = batchOf(INGEST_QUEUE, messages);
    await handleIngestBatch(batch as MessageBatch, env, lagging, { visibility: { timeoutMs: 300, pollMs: 50 } });
    const firstResult = await getQueueResult(batch, createExecutionContext());
    expect(firstResult.retryMessages).toHaveLength(1);
    expect(firstResult.explicitAcks).toEqual([]);
    expect(await chunkRows(tenant, "h")).toEqual([]);
    expect(await jobDocumentRow(tenant, jobId, "h")).toMatchObject({
      status: "queued",
      error: expect.stringMatching(/^VECTORS_NOT_VISIBLE/),
    });
    expect(await documentRow(tenant, "h")).toMatchObject({ status: "queued", indexed_hash: null });

    // The retry, on a consistent index: one set of chunks, and the job done.
    await runQueue(INGEST_QUEUE, messages, { attempts: 2 });
    const chunks = await chunkRows(tenant, "h");
    expect(chunks.length).toBeGreaterThan(0);
    expect(await jobOf(tenant, jobId)).toMatchObject({ status: "done", processed: 1, chunks: chunks.length });
    expect(await vectorIndex().getByIds(chunks.map((c) => c.id))).toHaveLength(chunks.length);
  });
});

describe("consumer — throughput (happy)", () => {
  it("indexes a batch's messages concurrently, each acked on its own", async () => {
    const tenant = uniqueTenant("overlap");
    const jobs = await Promise.all(
      ["a", "b", "c"].map((id) => recordJob(tenant, [{ id, text: PARAGRAPHS.printing.replace("Gutenberg", id) }])),
    );
    // Each message's upsert waits (up to 5 s) until all three messages are at the vector index:
    // one message at a time would never have more than one waiting there.
    let waiting = 0;
    let together = 0;
    const all = Promise.withResolvers<void>();
    const barrier = servicesWith({
      vectors: forwarding(vectorIndex(), {
        upsert: async (vectors) => {
          together = Math.max(together, ++waiting);
          if (together === 3) all.resolve();
          await Promise.race([all.promise, new Promise((resolve) => setTimeout(resolve, 5_000))]);
          waiting--;
          return vectorIndex().upsert(vectors);
        },
      }),
    });
    const batch = batchOf(
      INGEST_QUEUE,
      jobs.flatMap((job) => job.messages),
    );
    await handleIngestBatch(batch as MessageBatch, env, barrier);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.explicitAcks).toHaveLength(3);
    expect(together).toBe(3);
    for (const job of jobs) expect(await jobOf(tenant, job.jobId)).toMatchObject({ status: "done", processed: 1 });
  });
});

describe("read-your-writes: done only once the vectors are visible", () => {
  it("waits for an eventually consistent index before marking the job done (happy)", async () => {
    const tenant = uniqueTenant("ryw");
    const { jobId, messages } = await recordJob(tenant, [{ id: "late", text: PARAGRAPHS.glaciers }]);
    const inner = vectorIndex();
    const lagging = eventuallyConsistent(inner, 1_500);
    const started = Date.now();
    const batch = batchOf(INGEST_QUEUE, messages);
    await handleIngestBatch(batch as MessageBatch, env, servicesWith({ vectors: lagging }), {
      visibility: { timeoutMs: 10_000, pollMs: 100 },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    const job = await jobOf(tenant, jobId);
    expect(job.status).toBe("done");
    // At the moment the job is done, every chunk's vector is visible through the lagging index too.
    const chunks = await chunkRows(tenant, "late");
    expect((await lagging.getByIds(chunks.map((c) => c.id))).length).toBe(chunks.length);
  });

  it("retries the message (and leaves the document unindexed) when the vectors do not show up in time (error)", async () => {
    const tenant = uniqueTenant("ryw-late");
    const { jobId, messages } = await recordJob(tenant, [{ id: "never", text: PARAGRAPHS.printing }]);
    const batch = batchOf(INGEST_QUEUE, messages);
    const { view, delays } = observed(batch as MessageBatch);
    const lagging = servicesWith({ vectors: eventuallyConsistent(vectorIndex(), Infinity) });
    const started = Date.now();
    await handleIngestBatch(view, env, lagging, { visibility: { timeoutMs: 500, pollMs: 50 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.retryMessages).toHaveLength(1);
    expect([...delays.values()][0]).toBeGreaterThanOrEqual(24);
    expect(await jobDocumentRow(tenant, jobId, "never")).toMatchObject({
      status: "queued",
      error: expect.stringMatching(/^VECTORS_NOT_VISIBLE: /),
    });
    expect(await jobOf(tenant, jobId)).toMatchObject({ status: "processing", processed: 0 });
    expect(await chunkRows(tenant, "never")).toEqual([]);
  });
});

describe("consumer — deleted while being indexed (happy)", () => {
  it("writes nothing for a document deleted between the origin call and the commit, and removes its fresh vectors", async () => {
    const tenant = uniqueTenant("deleted-midway");
    const { jobId, messages } = await recordJob(tenant, [{ id: "midway", text: PARAGRAPHS.printing }]);
    const inner = vectorIndex();
    const upserted: string[] = [];
    const lagging = eventuallyConsistent(inner, 600);
    const watching: Vectorize = {
      describe: () => lagging.describe(),
      query: (vector, options) => lagging.query(vector, options),
      queryById: (id, options) => lagging.queryById(id, options),
      insert: (vectors) => lagging.insert(vectors),
      getByIds: (ids) => lagging.getByIds(ids),
      deleteByIds: (ids) => lagging.deleteByIds(ids),
      upsert: (vectors) => {
        upserted.push(...vectors.map((v) => v.id));
        return lagging.upsert(vectors);
      },
    };
    const { key } = await createKey(tenant, ["writer"]);

    const batch = batchOf(INGEST_QUEUE, messages);
    const consuming = handleIngestBatch(batch as MessageBatch, env, servicesWith({ vectors: watching }), {
      visibility: { timeoutMs: 5_000, pollMs: 50 },
    });
    // While the consumer waits for its vectors to become visible, the document is deleted.
    while (upserted.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await call("/v1/documents/midway", { method: "DELETE", auth: key })).status).toBe(204);
    await consuming;

    expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toHaveLength(1);
    expect(await documentRow(tenant, "midway")).toBeNull();
    expect(await chunkRows(tenant, "midway")).toEqual([]);
    expect(await jobOf(tenant, jobId)).toMatchObject({ status: "done", processed: 0, skipped: 1 });
    expect(await inner.getByIds(upserted.slice(0, 20))).toEqual([]);
    expect(await recordedForDeletion(tenant)).toEqual([]);
  });
});

describe("consumer — an attempt that never commits (error)", () => {
  it.each(["deleted", "replaced"] as const)(
    "purges the vectors it upserted once its document is %s before the retry (write-ahead), and not before they are due",
    async (how) => {
      const tenant = uniqueTenant(`orphan-${how}`);
      const { key } = await createKey(tenant, ["writer"]);
      const { messages } = await recordJob(tenant, [{ id: "o", text: PARAGRAPHS.volcano }]);
      const inner = vectorIndex();
      const upserted: string[] = [];
      // The upserts land, but are never reported visible: the attempt fails after writing vectors.
      const neverVisible = forwarding(inner, {
        describe: async () => ({ ...(await inner.describe()), processedUpToMutation: null }) as unknown as VectorizeIndexInfo,
        getByIds: async () => [],
        upsert: (vectors) => {
          upserted.push(...vectors.map((v) => v.id));
          return inner.upsert(vectors);
        },
      });
      const first = batchOf(INGEST_QUEUE, messages);
      await handleIngestBatch(first as MessageBatch, env, servicesWith({ vectors: neverVisible }), {
        visibility: { timeoutMs: 200, pollMs: 50 },
      });
      expect((await getQueueResult(first, createExecutionContext())).retryMessages).toHaveLength(1);
      expect(upserted.length).toBeGreaterThan(0);

      if (how === "deleted") expect((await call("/v1/documents/o", { method: "DELETE", auth: key })).status).toBe(204);
      else {
        const replaced = await call("/v1/documents", { auth: key, body: { documents: [{ id: "o", text: PARAGRAPHS.glaciers }] } });
        expect(replaced.status).toBe(202);
      }
      // The retry finds the version gone and skips it; what the first attempt wrote is recorded, not yet due.
      await runQueue(INGEST_QUEUE, messages, { attempts: 2 });
      expect(await purgeDeletedVectors(tenantObject(tenant), inner)).toBe(0);
      expect(await inner.getByIds(upserted.slice(0, 20))).toHaveLength(Math.min(20, upserted.length));
      // Due after the grace: the purge (the sweep's) removes them.
      await purgeDeletedVectors(tenantObject(tenant), inner, { now: Date.now() + PENDING_VECTOR_GRACE_MS + 1 });
      expect(await inner.getByIds(upserted.slice(0, 20))).toEqual([]);
    },
  );
});

describe("chunk ids across versions: content A → B → A (happy)", () => {
  it("gives the returning content fresh ids, so a purge of the replaced A's ids cannot delete the new A's vectors", async () => {
    const tenant = uniqueTenant("aba");
    const services = localServices(env);
    const A = { id: "doc", text: PARAGRAPHS.lighthouse };
    const B = { id: "doc", text: PARAGRAPHS.glaciers };
    await services.ingest.indexNow(tenant, [A]);
    const firstIds = (await chunkRows(tenant, "doc")).map((c) => c.id);

    // B replaces A while the vector index refuses deletes: A's ids stay recorded for deletion.
    const refusing = forwarding(services.vectors, { deleteByIds: async () => Promise.reject(new Error("vector index down")) });
    await servicesWith({ vectors: refusing })(env).ingest.indexNow(tenant, [B]);
    expect(await recordedForDeletion(tenant)).toEqual([...firstIds].sort());

    // The sweep's purge reads those ids and finds no chunk owning them; its deleteByIds is slow...
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const reachedIndex = new Promise<void>((resolve) => (reached = resolve));
    const slow = forwarding(services.vectors, {
      deleteByIds: async (ids) => {
        reached();
        await released;
        return services.vectors.deleteByIds(ids);
      },
    });
    const purging = purgeDeletedVectors(tenantObject(tenant), slow);
    await reachedIndex;
    // ...and meanwhile A comes back and is indexed, then the purge's delete lands.
    expect((await services.ingest.indexNow(tenant, [A])).documents[0]).toMatchObject({ status: "done" });
    release();
    await purging;

    const chunks = await chunkRows(tenant, "doc");
    expect(chunks.length).toBeGreaterThan(0);
    // Every chunk the object holds still has its vector: dense retrieval loses nothing.
    const vectors = await services.vectors.getByIds(chunks.map((c) => c.id));
    expect(vectors.map((v) => v.id).sort()).toEqual(chunks.map((c) => c.id).sort());
    expect(chunks.map((c) => c.id).filter((id) => firstIds.includes(id))).toEqual([]);
  });

  it("a document sent back to its indexed content while a newer version waits ends indexed, not queued forever", async () => {
    const tenant = uniqueTenant("aba-revert");
    const A = { id: "r", text: PARAGRAPHS.printing };
    await runQueue(INGEST_QUEUE, (await recordJob(tenant, [A])).messages);
    const pending = await recordJob(tenant, [{ id: "r", text: PARAGRAPHS.lighthouse }]);
    const revert = await recordJob(tenant, [A]);
    expect((await documentRow(tenant, "r"))?.status).toBe("queued");

    await runQueue(INGEST_QUEUE, [...pending.messages, ...revert.messages]);
    expect(await jobOf(tenant, revert.jobId)).toMatchObject({ status: "done", skipped: 1 });
    expect(await documentRow(tenant, "r")).toMatchObject({ status: "indexed", error: null });
    expect((await chunkRows(tenant, "r")).map((chunk) => chunk.text).join(" ")).toContain(PARAGRAPHS.printing.slice(0, 40));
  });

  it("never commits work for a version the document has left, even when its content came back meanwhile", async () => {
    const tenant = uniqueTenant("aba-stale");
    const stale = await recordJob(tenant, [{ id: "s", text: PARAGRAPHS.volcano }]);
    const upserted: string[] = [];
    const lagging = eventuallyConsistent(vectorIndex(), 600);
    const watching = forwarding(lagging, {
      upsert: (vectors) => {
        upserted.push(...vectors.map((v) => v.id));
        return lagging.upsert(vectors);
      },
    });

    const batch = batchOf(INGEST_QUEUE, stale.messages);
    const consuming = handleIngestBatch(batch as MessageBatch, env, servicesWith({ vectors: watching }), {
      visibility: { timeoutMs: 5_000, pollMs: 50 },
    });
    // While the stale consumer waits for its vectors, the document goes A → B → A.
    while (upserted.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await recordJob(tenant, [{ id: "s", text: PARAGRAPHS.printing }]);
    const current = await recordJob(tenant, [{ id: "s", text: PARAGRAPHS.volcano }]);
    await consuming;

    expect(await jobOf(tenant, stale.jobId)).toMatchObject({ status: "done", processed: 0, skipped: 1 });
    expect(await chunkRows(tenant, "s")).toEqual([]);
    // Its vectors are recorded for deletion and purged: no chunk will ever own those ids.
    expect(await vectorIndex().getByIds(upserted.slice(0, 20))).toEqual([]);

    await runQueue(INGEST_QUEUE, current.messages);
    expect(await jobOf(tenant, current.jobId)).toMatchObject({ status: "done", processed: 1 });
    const chunks = await chunkRows(tenant, "s");
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.filter((c) => upserted.includes(c.id))).toEqual([]);
    expect(await vectorIndex().getByIds(chunks.map((c) => c.id))).toHaveLength(chunks.length);
  });
});

describe("re-ingest: queries see the indexed version's metadata until the new version is indexed (happy)", () => {
  it("cites and filters on the metadata the chunks were indexed with, and on the new metadata once its job is done", async () => {
    const tenant = uniqueTenant("meta");
    const { key } = await createKey(tenant, ["reader"]);
    const ask = async (query: string, filters?: Record<string, unknown>) => {
      const response = await call("/v1/query", { auth: key, body: { query, top_k: 5, ...(filters ? { filters } : {}) } });
      expect(response.status, await response.clone().text()).toBe(200);
      return (await json<{ sources: Array<{ document_id: string; text: string; metadata: Record<string, unknown> }> }>(response)).sources;
    };
    const first = await recordJob(tenant, [{ id: "m", text: PARAGRAPHS.volcano, metadata: { v: 1 } }]);
    await runQueue(INGEST_QUEUE, first.messages);

    // A new version (other text, other metadata) is accepted; its message has not run yet.
    const second = await recordJob(tenant, [{ id: "m", text: PARAGRAPHS.glaciers, metadata: { v: 2 } }]);
    const { key: writer } = await createKey(tenant, ["writer"]);
    expect(await json(await call("/v1/documents/m", { auth: writer }))).toMatchObject({ status: "queued", metadata: { v: 2 } });

    const before = await ask("Which eruption buried Pompeii?");
    expect(before.length).toBeGreaterThan(0);
    for (const source of before) expect(source).toMatchObject({ document_id: "m", metadata: { v: 1, collection: "default" } });
    expect(before.some((source) => source.text.includes("Vesuvius"))).toBe(true);
    // A filter on the new metadata does not apply it to the old text; one on the old metadata still finds it.
    expect(await ask("Which eruption buried Pompeii?", { v: 2 })).toEqual([]);
    expect((await ask("Which eruption buried Pompeii?", { v: 1 })).length).toBeGreaterThan(0);

    await runQueue(INGEST_QUEUE, second.messages);
    const after = await ask("How do glaciers form from snow?");
    expect(after.length).toBeGreaterThan(0);
    for (const source of after) expect(source).toMatchObject({ document_id: "m", metadata: { v: 2 } });
    expect(after.some((source) => source.text.includes("glacier"))).toBe(true);
    expect(await ask("How do glaciers form from snow?", { v: 1 })).toEqual([]);
  });
});

describe("consumer — permanent failures (error)", () => {
  it("fails documents whose embeddings do not fit the index, without retrying; the job is failed", async () => {
    const tenant = uniqueTenant("dims");
    const { jobId, messages } = await recordJob(tenant, [{ id: "wide", text: PARAGRAPHS.lighthouse }]);
    const dimensions = loadConfig(env).EMBEDDING_DIMENSIONS;
    const result = await runQueue(INGEST_QUEUE, messages, { env: { ...env, EMBEDDING_DIMENSIONS: String(dimensions * 2) } });
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const job = await jobOf(tenant, jobId);
    expect(job).toMatchObject({ status: "failed", failed: 1, processed: 0 });
    expect(job.errors[0]).toEqual({ document_id: "wide", error: expect.stringMatching(/^EMBEDDING_DIMENSIONS_MISMATCH: /) });
    expect(await chunkRows(tenant, "wide")).toEqual([]);
  });
});

describe("consumer — a document the origin rejects (error)", () => {
  it("fails that document alone, with the origin's verdict; the rest of its message is indexed", async () => {
    const tenant = uniqueTenant("poison");
    const { jobId, messages } = await recordJob(tenant, [
      { id: "good", text: PARAGRAPHS.glaciers },
      { id: "poison", text: PARAGRAPHS.volcano },
    ]);
    // A row the API could never have accepted (say, damaged by a bad manual fix): the origin refuses empty text.
    await tenantSql(tenant, "UPDATE documents SET text = '' WHERE id = 'poison'");
    expect(messages).toHaveLength(1);

    const result = await runQueue(INGEST_QUEUE, messages);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const job = await jobOf(tenant, jobId);
    expect(job).toMatchObject({
      status: "failed",
      processed: 1,
      failed: 1,
      errors: [{ document_id: "poison", error: expect.stringMatching(/^ORIGIN_REJECTED: .*\(400\)/) }],
    });
    expect((await chunkRows(tenant, "good")).length).toBeGreaterThan(0);
    expect(await documentRow(tenant, "poison")).toMatchObject({ status: "failed", error: expect.stringMatching(/^ORIGIN_REJECTED/) });
  });
});

describe("the sweep (happy)", () => {
  const STALL_MS = loadConfig(env).INGEST_STALL_SECONDS * 1000;
  const stalled = async (tenant: string) =>
    (await tenantObject(tenant).jobsToEnqueue(Date.now() - ENQUEUE_GRACE_MS, Date.now() - STALL_MS, 1000)).stalled;

  it("enqueues a job whose enqueue never happened, and the queue indexes it: the tenant's object wakes and asks for the sweep", async () => {
    const tenant = uniqueTenant("sweep");
    const { jobId } = await recordJob(tenant, [{ id: "orphan", text: PARAGRAPHS.volcano }], {
      now: Date.now() - ENQUEUE_GRACE_MS - 60_000,
      enqueued: false,
    });
    // The alarm the accept set; it may have fired on its own already (it was due): then the sweep is under way.
    await runDurableObjectAlarm(tenantObject(tenant));
    const { key } = await createKey(tenant, ["writer"]);
    expect(await waitForJob(key, jobId)).toMatchObject({ status: "done", processed: 1 });
    expect(
      (await tenantFirst<{ enqueued_at: number | null }>(tenant, "SELECT enqueued_at FROM jobs WHERE id = ?1", jobId))?.enqueued_at,
    ).toEqual(expect.any(Number));
  });

  it("enqueues again a job whose messages were lost after enqueueing, once per stall window", async () => {
    const tenant = uniqueTenant("sweep-stalled");
    // Recorded and marked enqueued, but its message never arrives (a local queue lost across a restart).
    const { jobId } = await recordJob(tenant, [{ id: "lost", text: PARAGRAPHS.volcano }]);
    const longAgo = Date.now() - STALL_MS - 60_000;
    await tenantSql(tenant, "UPDATE jobs SET enqueued_at = ?2, created_at = ?2, updated_at = ?2 WHERE id = ?1", jobId, longAgo);
    await tenantSql(tenant, "UPDATE job_documents SET updated_at = ?2 WHERE job_id = ?1", jobId, longAgo);
    const first = await localServices(env).ingest.sweep(tenant);
    expect(first.jobsReenqueued).toBe(1);
    const { key } = await createKey(tenant, ["writer"]);
    expect(await waitForJob(key, jobId)).toMatchObject({ status: "done", processed: 1 });
    // Done now, and re-marked: a second sweep leaves it alone.
    expect(await stalled(tenant)).not.toContain(jobId);
  });

  it("does not re-enqueue a job whose documents are progressing", async () => {
    const tenant = uniqueTenant("sweep-busy");
    const { jobId } = await recordJob(tenant, [{ id: "busy", text: PARAGRAPHS.glaciers }]);
    const longAgo = Date.now() - STALL_MS - 60_000;
    await tenantSql(tenant, "UPDATE jobs SET enqueued_at = ?2 WHERE id = ?1", jobId, longAgo);
    // A retry attempt was recorded a minute ago: the document is waiting out its backoff.
    await tenantSql(tenant, "UPDATE job_documents SET attempts = 1, updated_at = ?2 WHERE job_id = ?1", jobId, Date.now() - 60_000);
    expect(await stalled(tenant)).not.toContain(jobId);
    await tenantSql(tenant, "UPDATE job_documents SET status = 'skipped' WHERE job_id = ?1", jobId);
  });

  it("leaves young un-enqueued jobs alone (their POST may still be sending)", async () => {
    const tenant = uniqueTenant("sweep-young");
    const { jobId } = await recordJob(tenant, [{ id: "young", text: PARAGRAPHS.glaciers }], { enqueued: false });
    expect(await localServices(env).ingest.sweep(tenant)).toMatchObject({ jobsEnqueued: 0, jobsReenqueued: 0 });
    expect(await tenantFirst(tenant, "SELECT enqueued_at FROM jobs WHERE id = ?1", jobId)).toEqual({ enqueued_at: null });
    // Tidy: do not leave it for a later sweep in this run.
    await tenantObject(tenant).markEnqueued(jobId, Date.now());
  });

  it("deletes vectors whose deletion failed earlier: the tenant's object wakes and asks for the sweep", async () => {
    const tenant = uniqueTenant("sweep-vec");
    const summary = await localServices(env).ingest.indexNow(tenant, [{ id: "tmp", text: PARAGRAPHS.printing }]);
    expect(summary.documents[0]).toMatchObject({ status: "done" });
    const chunks = await chunkRows(tenant, "tmp");
    // Deleted in the object, its vector step never run (as when the index was unreachable): the ids stay recorded.
    expect(await tenantObject(tenant).remove("tmp", Date.now())).toBe(true);
    expect(await recordedForDeletion(tenant)).toHaveLength(chunks.length);
    expect(await vectorIndex().getByIds(chunks.map((c) => c.id))).toHaveLength(chunks.length);

    expect(await runDurableObjectAlarm(tenantObject(tenant))).toBe(true);
    for (let waited = 0; (await recordedForDeletion(tenant)).length > 0 && waited < 30_000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await recordedForDeletion(tenant)).toEqual([]);
    expect(await vectorIndex().getByIds(chunks.map((c) => c.id))).toEqual([]);
  });
});

describe("the chunk quota, at indexing time (error)", () => {
  async function tenantWithChunkQuota(prefix: string, maxChunks: number): Promise<string> {
    const tenant = uniqueTenant(prefix);
    await env.DB.prepare("INSERT INTO tenants (tenant, index_version, updated_at, limits) VALUES (?1, 0, ?2, ?3)")
      .bind(tenant, Date.now(), JSON.stringify({ max_chunks: maxChunks }))
      .run();
    return tenant;
  }

  it("fails the documents that would take the tenant past it with QUOTA_EXCEEDED, writing none of their chunks or vectors", async () => {
    const tenant = await tenantWithChunkQuota("chunk-quota", 3);
    const services = localServices(env);
    const names = ["lighthouse", "glaciers", "printing", "volcano"] as const;
    // One chunk each; before, all four were indexed: the quota was checked only when they were accepted.
    const summary = await services.ingest.indexNow(
      tenant,
      names.map((name) => ({ id: name, text: PARAGRAPHS[name] })),
    );
    expect(summary.documents.map((document) => document.status)).toEqual(["done", "done", "done", "failed"]);
    expect(summary.documents[3]).toMatchObject({ error: expect.stringMatching(/^QUOTA_EXCEEDED: .*chunk quota is 3/) });
    expect(await chunkRows(tenant, "volcano")).toEqual([]);
    expect((await tenantObject(tenant).stats()).chunks).toBe(3);
    // Replacing a document within the quota still works: its previous version's chunks make room.
    const replaced = await services.ingest.indexNow(tenant, [{ id: "printing", text: PARAGRAPHS.volcano }]);
    expect(replaced.documents[0]).toMatchObject({ status: "done" });
  });

  it("a commit that another commit overtook after its admission is refused whole, and the document admitted again fails on the quota", async () => {
    const tenant = await tenantWithChunkQuota("chunk-quota-race", 1);
    const services = localServices(env);
    // While this attempt writes its vectors (admitted: the tenant had no chunk), another one commits.
    const overtaken = forwarding(services.vectors, {
      upsert: async (vectors) => {
        expect((await services.ingest.indexNow(tenant, [{ id: "other", text: PARAGRAPHS.glaciers }])).documents[0]).toMatchObject({
          status: "done",
        });
        return services.vectors.upsert(vectors);
      },
    });
    const late = await servicesWith({ vectors: overtaken })(env).ingest.indexNow(tenant, [{ id: "late", text: PARAGRAPHS.printing }]);
    expect(late.documents[0]).toMatchObject({ status: "failed", error: expect.stringMatching(/^QUOTA_EXCEEDED: .*chunk quota is 1/) });
    expect((await tenantObject(tenant).stats()).chunks).toBe(1);
    expect(await chunkRows(tenant, "late")).toEqual([]);
  });
});

describe("services.ingest.indexNow (the core the query suites build fixtures with)", () => {
  it("indexes synchronously, skips unchanged documents, and rejects what the API would reject", async () => {
    const tenant = uniqueTenant("direct");
    const services = localServices(env);
    const first = await services.ingest.indexNow(tenant, [
      { id: "a", text: PARAGRAPHS.glaciers, metadata: { topic: "ice" }, collection: "geo" },
      { id: "b", text: PARAGRAPHS.volcano },
    ]);
    expect(first.documents.map((d) => d.status)).toEqual(["done", "done"]);
    expect(first.chunks).toBeGreaterThanOrEqual(2);
    expect(first.index_version).toBeGreaterThanOrEqual(1);
    const vectors = await services.vectors.getByIds((await chunkRows(tenant, "a")).map((c) => c.id));
    expect(vectors[0]?.metadata).toEqual({ topic: "ice", document_id: "a", collection: "geo" });

    const second = await services.ingest.indexNow(tenant, [
      { id: "a", text: PARAGRAPHS.glaciers, metadata: { topic: "ice" }, collection: "geo" },
    ]);
    expect(second.documents).toEqual([{ document_id: "a", status: "skipped", reason: "unchanged" }]);
    expect(second.index_version).toBe(first.index_version);

    // Outcomes come back in the caller's order, unchanged ones included.
    const third = await services.ingest.indexNow(tenant, [
      { id: "c", text: PARAGRAPHS.printing },
      { id: "a", text: PARAGRAPHS.glaciers, metadata: { topic: "ice" }, collection: "geo" },
    ]);
    expect(third.documents.map((d) => [d.document_id, d.status])).toEqual([
      ["c", "done"],
      ["a", "skipped"],
    ]);

    await expect(services.ingest.indexNow(tenant, [{ id: "bad id", text: "x" }])).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    await expect(services.ingest.indexNow(tenant, [{ text: "x", collection: "Bad" }])).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    await expect(
      services.ingest.indexNow(tenant, [
        { id: "d", text: "x" },
        { id: "d", text: "y" },
      ]),
    ).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    expect(await documentRow(tenant, "d")).toBeNull();
  });
});

// Keep the message type honest: what the consumer parses is what the producer sends.
const _typed: IngestMessage = { v: 1, tenant: "t", job_id: "j", document_ids: ["d"] };
void _typed;
