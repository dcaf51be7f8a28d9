import { type FieldError, fieldErrors, quotaExceeded, serviceUnavailable, validationFailed } from "../errors";
import { log as defaultLog, errorFields, type Logger } from "../logger";
import type { Origins } from "../origin/origin-client";
import type { TenantLimitsStore } from "../store/tenant-limits";
import type { TenantStore } from "../store/tenant-store";
import { ENQUEUE_GRACE_MS } from "../tenant/tenant-data";
import type { TenantDataFor } from "../tenant/tenant-data-port";
import type { VectorIndex } from "../vector/vector-index";
import { DEFAULT_COLLECTION, type DocumentInput, documentSchemas, type IngestRequest } from "./document-input";
import { acceptDocuments } from "./document-store";
import { type DocumentOutcome, type IndexOptions, type IndexSummary, type IndexTarget, indexRecorded } from "./indexer";
import { type IngestMessage, planMessages, sendMessages } from "./messages";
import { purgeDeletedVectors } from "./vector-writes";

/**
 * The ingest use case, built once in `createServices` (as the query service is): the documents
 * route, the queue consumer and the fixtures and tools that index directly all call it.
 *
 * Promise: `accept` stores the documents in the tenant's object before it enqueues anything, so
 * nothing accepted is lost (a refused quota writes nothing: the object checks its counters and
 * writes in one transaction); `remove` makes a document unfindable before it answers; `index`
 * settles each of a message's pending documents (indexer.ts promise); `sweep` repairs what a lost
 * message or a failed call left behind. Failure modes: QUOTA_EXCEEDED and VALIDATION_FAILED
 * (nothing written), STORE_UNAVAILABLE (the tenant's object), and from `accept`
 * INGEST_QUEUE_UNAVAILABLE once the documents are stored (the sweep enqueues them). Latency:
 * `accept` and `remove` one call to the object and one queue send; `index` an origin call, the
 * vector writes and a few calls to the object per message.
 */
export interface IngestService {
  accept(
    tenant: string,
    request: IngestRequest,
    context?: { log?: Logger },
  ): Promise<{ jobId: string; accepted: number; statusUrl: string }>;
  /** False when the tenant has no such document (another tenant's included). */
  remove(tenant: string, id: string, context?: { log?: Logger }): Promise<boolean>;
  /** A queue message: indexes those of its documents that its job still has queued. */
  index(message: IngestMessage, options?: IndexOptions): Promise<DocumentOutcome[]>;
  /**
   * Re-enqueues the tenant's jobs whose messages never reached the queue (older than
   * ENQUEUE_GRACE_MS, never marked enqueued) or were lost (no document progress for
   * INGEST_STALL_SECONDS), and deletes its recorded vector ids that are due; first it undoes the
   * accepts across shards left on hold (stale after ENQUEUE_GRACE_MS). Enqueueing twice is harmless
   * (the consumer is idempotent), so it needs no lock. One shard (`shard`, as its object's alarm
   * asks) or every shard. `now` moves the clock in tests.
   */
  sweep(tenant: string, now?: number, shard?: number): Promise<SweepResult>;
  /**
   * Records and indexes documents right away, without the queue (like POST /v1/documents, minus
   * the job): for fixtures, tools and tests; the API path is the queue. Throws VALIDATION_FAILED
   * for a document that POST /v1/documents would reject.
   */
  indexNow(tenant: string, documents: Array<DocumentInput & { collection?: string }>, options?: IndexOptions): Promise<IndexSummary>;
}

export interface IngestServiceDeps {
  tenantData: TenantDataFor;
  vectors: VectorIndex;
  origin: Origins;
  tenantLimits: TenantLimitsStore;
  /** Forgets a tenant's state this isolate caches once a delete moved it. */
  tenants: Pick<TenantStore, "forget">;
  queue: Queue;
  /** INGEST_STALL_SECONDS: how long a job may show no progress before the sweep sends it again. */
  stallSeconds: number;
}

export interface SweepResult {
  jobsEnqueued: number;
  jobsReenqueued: number;
  vectorsDeleted: number;
}

export { ENQUEUE_GRACE_MS } from "../tenant/tenant-data";

const JOBS_PER_SWEEP = 50;

const newJobId = () => `job_${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`;

export function createIngestService(deps: IngestServiceDeps): IngestService {
  const { tenantData, queue } = deps;

  /** Sends the job's queued documents of one shard and records that; false, logged, when the queue or the object fails: a later sweep tries again. */
  const enqueueJob = async (tenant: string, shard: number, jobId: string, resent: boolean): Promise<boolean> => {
    const store = tenantData(tenant).shard(shard);
    try {
      const pending = await store.pendingJobDocuments(jobId);
      await sendMessages(
        queue,
        planMessages(
          tenant,
          jobId,
          pending.map((p) => ({ id: p.documentId, textLength: p.textLength })),
          shard,
        ),
      );
      await store.markEnqueued(jobId, Date.now(), { resent });
      return true;
    } catch (error) {
      defaultLog.error("sweep could not enqueue job", { job_id: jobId, tenant, shard, ...errorFields(error) });
      return false;
    }
  };

  /** One shard's sweep (see `sweep`). */
  const sweepShard = async (tenant: string, shard: number, now: number): Promise<SweepResult> => {
    const store = tenantData(tenant).shard(shard);
    // An accept across shards that its worker never confirmed or aborted is undone first.
    await store.abortStaleHolds(now - ENQUEUE_GRACE_MS);
    const { unenqueued, stalled } = await store.jobsToEnqueue(now - ENQUEUE_GRACE_MS, now - deps.stallSeconds * 1000, JOBS_PER_SWEEP);
    let jobsEnqueued = 0;
    for (const jobId of unenqueued) if (await enqueueJob(tenant, shard, jobId, false)) jobsEnqueued++;
    let jobsReenqueued = 0;
    for (const jobId of stalled) if (await enqueueJob(tenant, shard, jobId, true)) jobsReenqueued++;
    const vectorsDeleted = await purgeDeletedVectors(store, deps.vectors, { now }).catch((error) => {
      defaultLog.error("sweep could not delete vectors", { tenant, shard, ...errorFields(error) });
      return 0;
    });
    if (jobsEnqueued || jobsReenqueued || vectorsDeleted)
      defaultLog.info("sweep", {
        tenant,
        shard,
        jobs_enqueued: jobsEnqueued,
        jobs_reenqueued: jobsReenqueued,
        vectors_deleted: vectorsDeleted,
      });
    return { jobsEnqueued, jobsReenqueued, vectorsDeleted };
  };

  return {
    async accept(tenant, { documents, collection }, context = {}) {
      const log = context.log ?? defaultLog;
      // 1. The tenant's object first: once it answers, nothing accepted can be lost. A quota the
      // documents would break refuses them before anything is written.
      const accepted = await acceptDocuments(documents, collection);
      const { maxDocuments, maxBytes, maxChunks } = await deps.tenantLimits.get(tenant);
      const jobId = newJobId();
      const result = await tenantData(tenant).accept({
        documents: accepted,
        job: { id: jobId },
        quota: { maxDocuments, maxBytes, maxChunks },
        now: Date.now(),
      });
      if (!result.ok) throw quotaExceeded(result.quota, result.limit, result.usage, result.detail);
      const statusUrl = `/v1/jobs/${jobId}`;

      // 2. Then the queue (ids only), a shard's documents per message. A failure leaves the job
      // un-enqueued for the sweep.
      const changed = byShard(result.documents.filter((document) => !document.unchanged));
      if (changed.size > 0) {
        try {
          await sendMessages(
            queue,
            [...changed].flatMap(([shard, documents]) =>
              planMessages(
                tenant,
                jobId,
                documents.map((d) => ({ id: d.id, textLength: d.textLength })),
                shard,
              ),
            ),
          );
        } catch (error) {
          log.error("ingest enqueue failed", { job_id: jobId, tenant, ...errorFields(error) });
          throw serviceUnavailable(
            "INGEST_QUEUE_UNAVAILABLE",
            "the documents are stored but could not be queued for indexing; they are queued automatically within a few minutes, or retry the request",
            30,
            { job_id: jobId, status_url: statusUrl },
          );
        }
        // Only bookkeeping for the sweep: if it fails, the sweep enqueues again, which is harmless.
        const store = tenantData(tenant);
        await Promise.all([...changed.keys()].map((shard) => store.shard(shard).markEnqueued(jobId, Date.now()))).catch(() => {});
      }
      return { jobId, accepted: accepted.length, statusUrl };
    },

    async remove(tenant, id, context = {}) {
      // The object decides: chunks and document go in one transaction with the index-version bump,
      // and queries only return chunks it still has. The vectors follow; a failure there is retried by the sweep.
      const { object } = await tenantData(tenant).shardFor(id);
      if (!(await object.remove(id, Date.now()))) return false;
      // This isolate's next query reads the bumped index version, so no cached answer citing it matches.
      deps.tenants.forget(tenant);
      await purgeDeletedVectors(object, deps.vectors).catch((error) => {
        (context.log ?? defaultLog).warn("vector delete deferred to the sweep", { tenant, ...errorFields(error) });
      });
      return true;
    },

    async index(message, options = {}) {
      const shard = message.shard ?? 0;
      const store = tenantData(message.tenant).shard(shard);
      const pending = await store.pendingJobDocuments(message.job_id, message.document_ids);
      if (pending.length === 0) return [];
      await store.markProcessing(message.job_id, Date.now());
      const targets = pending.map(({ documentId, contentHash }) => ({ documentId, contentHash }));
      return indexRecorded(deps, message.tenant, targets, { ...options, jobId: message.job_id, shard });
    },

    async sweep(tenant, now = Date.now(), shard) {
      const shards = shard === undefined ? (await tenantData(tenant).shards()).map((_, index) => index) : [shard];
      const results = [];
      for (const index of shards) results.push(await sweepShard(tenant, index, now));
      return {
        jobsEnqueued: results.reduce((sum, result) => sum + result.jobsEnqueued, 0),
        jobsReenqueued: results.reduce((sum, result) => sum + result.jobsReenqueued, 0),
        vectorsDeleted: results.reduce((sum, result) => sum + result.vectorsDeleted, 0),
      };
    },

    async indexNow(tenant, documents, options = {}) {
      // Outcomes in the caller's order.
      const outcomes: DocumentOutcome[] = new Array(documents.length);
      const store = tenantData(tenant);
      const { maxDocuments, maxBytes } = await deps.tenantLimits.get(tenant);
      // The chunk quota is held where chunks are known, at admission (indexer.ts): a replacement
      // then fits when its previous version's chunks make room, even for a tenant at its quota.
      const quota = { maxDocuments, maxBytes, maxChunks: Number.MAX_SAFE_INTEGER };
      for (const [collection, entries] of validatedByCollection(documents)) {
        const accepted = await acceptDocuments(
          entries.map((entry) => entry.input),
          collection,
        );
        const positions = new Map(accepted.map((document, i) => [document.id, entries[i]!.position]));
        const result = await store.accept({ documents: accepted, quota, now: Date.now() });
        if (!result.ok) throw quotaExceeded(result.quota, result.limit, result.usage, result.detail);
        for (const document of result.documents.filter((d) => d.unchanged))
          outcomes[positions.get(document.id)!] = { document_id: document.id, status: "skipped", reason: "unchanged" };
        const hashes = new Map(accepted.map((document) => [document.id, document.hash]));
        // Same grouping as the queue: one origin call per group, a shard's documents per group.
        for (const [shard, changed] of byShard(result.documents.filter((document) => !document.unchanged)))
          for (const message of planMessages(
            tenant,
            "direct",
            changed.map((d) => ({ id: d.id, textLength: d.textLength })),
          )) {
            const targets: IndexTarget[] = message.document_ids.map((id) => ({ documentId: id, contentHash: hashes.get(id)! }));
            for (const outcome of await indexRecorded(deps, tenant, targets, { ...options, shard }))
              outcomes[positions.get(outcome.document_id)!] = outcome;
          }
      }
      return {
        documents: outcomes,
        chunks: outcomes.reduce((sum, outcome) => sum + (outcome.status === "done" ? outcome.chunks : 0), 0),
        index_version: (await store.stats()).index_version,
      };
    },
  };
}

/** Documents grouped by the shard that holds them, in shard order. */
function byShard<T extends { shard: number }>(documents: T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const document of [...documents].sort((a, b) => a.shard - b.shard))
    groups.set(document.shard, [...(groups.get(document.shard) ?? []), document]);
  return groups;
}

/** The documents by collection, each with its position; throws VALIDATION_FAILED naming every problem. */
function validatedByCollection(
  documents: Array<DocumentInput & { collection?: string }>,
): Map<string, Array<{ position: number; input: DocumentInput }>> {
  const byCollection = new Map<string, Array<{ position: number; input: DocumentInput }>>();
  const issues: FieldError[] = [];
  const seen = new Set<string>();
  const { CollectionSchema, DocumentInputSchema } = documentSchemas();
  documents.forEach((document, position) => {
    const { collection = DEFAULT_COLLECTION, ...input } = document;
    const parsed = DocumentInputSchema.safeParse(input);
    if (!parsed.success) issues.push(...fieldErrors(parsed.error.issues, [position]));
    if (!CollectionSchema.safeParse(collection).success)
      issues.push({ path: `${position}.collection`, message: "must match [a-z0-9][a-z0-9_-]{0,63}" });
    if (input.id !== undefined && seen.has(input.id))
      issues.push({ path: `${position}.id`, message: `duplicates an earlier id (${input.id})` });
    if (input.id !== undefined) seen.add(input.id);
    if (parsed.success) byCollection.set(collection, [...(byCollection.get(collection) ?? []), { position, input: parsed.data }]);
  });
  if (issues.length > 0) throw validationFailed(issues);
  return byCollection;
}
