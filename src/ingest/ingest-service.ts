import { type FieldError, fieldErrors, StoreUnavailable, serviceUnavailable, validationFailed } from "../errors";
import { log as defaultLog, errorFields, type Logger } from "../logger";
import type { Origins } from "../origin/origin-client";
import { assertIngestQuota, quotaGuardStatements, type TenantLimitsStore } from "../store/tenant-limits";
import { createTenantStore, type TenantStore } from "../store/tenant-store";
import type { VectorIndex } from "../vector/vector-index";
import { CollectionSchema, DEFAULT_COLLECTION, type DocumentInput, DocumentInputSchema, type IngestRequest } from "./document-input";
import { deleteDocument, prepareDocuments, recordDocumentsStatements } from "./document-store";
import { type DocumentOutcome, type IndexOptions, type IndexSummary, type IndexTarget, indexRecorded } from "./indexer";
import { markEnqueuedStatement, markProcessingStatement, pendingJobDocuments } from "./job-store";
import { type IngestMessage, planMessages, sendMessages } from "./messages";
import { purgeDeletedVectors } from "./vector-writes";

/**
 * The ingest use case, built once in `createServices` (as the query service is): the documents
 * route, the queue consumer and the fixtures and tools that index directly all call it.
 *
 * Promise: `accept` stores the documents before it enqueues anything, so nothing accepted is lost
 * (a refused quota writes nothing); `remove` makes a document unfindable before it answers;
 * `index` settles each of a message's pending documents (indexer.ts promise). Failure modes:
 * QUOTA_EXCEEDED and VALIDATION_FAILED (nothing written), STORE_UNAVAILABLE (D1), and from
 * `accept` INGEST_QUEUE_UNAVAILABLE once the documents are stored (the sweep enqueues them).
 * Latency: `accept` and `remove` a few D1 round trips and one queue send; `index` an origin call,
 * the vector writes and one D1 batch per message.
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
   * Records and indexes documents right away, without the queue (like POST /v1/documents, minus
   * the job): for fixtures, tools and tests; the API path is the queue. Throws VALIDATION_FAILED
   * for a document that POST /v1/documents would reject.
   */
  indexNow(tenant: string, documents: Array<DocumentInput & { collection?: string }>, options?: IndexOptions): Promise<IndexSummary>;
}

export interface IngestServiceDeps {
  db: D1Database;
  vectors: VectorIndex;
  origin: Origins;
  tenantLimits: TenantLimitsStore;
  /** Forgets a tenant's state this isolate caches once a delete moved it. */
  tenants: Pick<TenantStore, "forget">;
  queue: Queue;
}

const newJobId = () => `job_${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`;

export function createIngestService(deps: IngestServiceDeps): IngestService {
  const { db, queue } = deps;

  return {
    async accept(tenant, { documents, collection }, context = {}) {
      const log = context.log ?? defaultLog;
      // 1. D1 first: once this batch commits, nothing accepted can be lost. A quota it would break
      // refuses it before anything is written.
      const prepared = await prepareDocuments(db, tenant, documents, collection);
      const limits = await deps.tenantLimits.get(tenant);
      await assertIngestQuota(db, tenant, limits, prepared);
      const jobId = newJobId();
      try {
        await db.batch([
          ...recordDocumentsStatements(db, tenant, prepared, Date.now(), { id: jobId }),
          ...quotaGuardStatements(db, tenant, limits),
        ]);
      } catch (error) {
        // The guard refused the batch if concurrent ingests took the tenant past a quota meanwhile:
        // checking again names the quota (else the failure was the store's, and stays a 503).
        if (error instanceof StoreUnavailable) await assertIngestQuota(db, tenant, limits, prepared);
        throw error;
      }
      const statusUrl = `/v1/jobs/${jobId}`;

      // 2. Then the queue (ids only). A failure leaves the job un-enqueued for the scheduled sweep.
      const changed = prepared.filter((document) => !document.unchanged);
      if (changed.length > 0) {
        try {
          await sendMessages(
            queue,
            planMessages(
              tenant,
              jobId,
              changed.map((d) => ({ id: d.id, textLength: d.text.length })),
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
        await db.batch([markEnqueuedStatement(db, tenant, jobId, Date.now())]).catch(() => {});
      }
      return { jobId, accepted: prepared.length, statusUrl };
    },

    async remove(tenant, id, context = {}) {
      // D1 decides: chunks and document go in one batch with the index-version bump, and queries
      // only return chunks D1 still has. The vectors follow; a failure there is retried by the sweep.
      if (!(await deleteDocument(db, tenant, id, Date.now()))) return false;
      // This isolate's next query reads the bumped index version, so no cached answer citing it matches.
      deps.tenants.forget(tenant);
      await purgeDeletedVectors(db, deps.vectors, { tenant }).catch((error) => {
        (context.log ?? defaultLog).warn("vector delete deferred to the sweep", { tenant, ...errorFields(error) });
      });
      return true;
    },

    async index(message, options = {}) {
      const pending = await pendingJobDocuments(db, message.tenant, message.job_id, message.document_ids);
      if (pending.length === 0) return [];
      await db.batch([markProcessingStatement(db, message.tenant, message.job_id, Date.now())]);
      const targets = pending.map(({ documentId, contentHash }) => ({ documentId, contentHash }));
      return indexRecorded(deps, message.tenant, targets, { ...options, jobId: message.job_id });
    },

    async indexNow(tenant, documents, options = {}) {
      // Outcomes in the caller's order.
      const outcomes: DocumentOutcome[] = new Array(documents.length);
      const now = Date.now();
      for (const [collection, entries] of validatedByCollection(documents)) {
        const prepared = await prepareDocuments(
          db,
          tenant,
          entries.map((entry) => entry.input),
          collection,
        );
        const positions = new Map(prepared.map((document, i) => [document.id, entries[i]!.position]));
        const record = recordDocumentsStatements(db, tenant, prepared, now);
        if (record.length > 0) await db.batch(record);
        for (const document of prepared.filter((d) => d.unchanged))
          outcomes[positions.get(document.id)!] = { document_id: document.id, status: "skipped", reason: "unchanged" };
        const changed = prepared.filter((document) => !document.unchanged);
        const hashes = new Map(changed.map((document) => [document.id, document.hash]));
        // Same grouping as the queue: one origin call per group.
        for (const message of planMessages(
          tenant,
          "direct",
          changed.map((d) => ({ id: d.id, textLength: d.text.length })),
        )) {
          const targets: IndexTarget[] = message.document_ids.map((id) => ({ documentId: id, contentHash: hashes.get(id)! }));
          for (const outcome of await indexRecorded(deps, tenant, targets, options))
            outcomes[positions.get(outcome.document_id)!] = outcome;
        }
      }
      return {
        documents: outcomes,
        chunks: outcomes.reduce((sum, outcome) => sum + (outcome.status === "done" ? outcome.chunks : 0), 0),
        index_version: await createTenantStore(db).indexVersion(tenant),
      };
    },
  };
}

/** The documents by collection, each with its position; throws VALIDATION_FAILED naming every problem. */
function validatedByCollection(
  documents: Array<DocumentInput & { collection?: string }>,
): Map<string, Array<{ position: number; input: DocumentInput }>> {
  const byCollection = new Map<string, Array<{ position: number; input: DocumentInput }>>();
  const issues: FieldError[] = [];
  const seen = new Set<string>();
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
