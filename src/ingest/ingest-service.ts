import { type FieldError, FileRefused, fieldErrors, quotaExceeded, serviceUnavailable, validationFailed } from "../errors";
import { log as defaultLog, errorFields, type Logger } from "../logger";
import type { Origins } from "../origin/origin-client";
import { mapWithConcurrency } from "../query/concurrency";
import { randomHex } from "../shared/hex";
import { type LocatedBlock, type ParseResponse, textOfBlocks } from "../shared/origin-contract";
import type { TenantLimitsStore } from "../store/tenant-limits";
import type { TenantStore } from "../store/tenant-store";
import { ENQUEUE_GRACE_MS } from "../tenant/tenant-data";
import type { TenantDataFor } from "../tenant/tenant-data-port";
import type { VectorIndex } from "../vector/vector-index";
import { DEFAULT_COLLECTION, type DocumentInput, type DocumentMetadata, documentSchemas, type IngestRequest } from "./document-input";
import { type AcceptedDocument, acceptDocuments } from "./document-store";
import type { FileStore, StoredFile } from "./file-store";
import { contentHash } from "./hashing";
import { type DocumentOutcome, type IndexOptions, type IndexSummary, type IndexTarget, indexRecorded } from "./indexer";
import type { JsonLinesFile } from "./json-lines";
import { layoutOf } from "./layout";
import { type IngestMessage, planMessages, sendMessages } from "./messages";
import { purgeDeletedVectors } from "./vector-writes";

/**
 * The ingest use case, built once in `createServices` (as the query service is): the documents
 * route, the queue consumer and the fixtures and tools that index directly all call it.
 *
 * Promise: `accept` stores the documents in the tenant's object before it enqueues anything, so
 * nothing accepted is lost (a refused quota writes nothing: the object checks its counters and
 * writes in one transaction); `acceptFiles` does the same with the text the origin parses out of
 * each file, once every file is parsed and its original is in the files bucket (a file the origin
 * refuses fails its document alone, in the job); `remove` makes a document unfindable before it
 * answers, and deletes its originals; `index`
 * settles each of a message's pending documents (indexer.ts promise); `sweep` repairs what a lost
 * message or a failed call left behind. Failure modes: QUOTA_EXCEEDED and VALIDATION_FAILED
 * (nothing written), STORE_UNAVAILABLE (the tenant's object), and from `accept`
 * INGEST_QUEUE_UNAVAILABLE once the documents are stored (the sweep enqueues them); `acceptFiles`
 * also the origin's failures (ORIGIN_UNAVAILABLE, ORIGIN_TIMEOUT: nothing stored) and
 * FILE_STORE_UNAVAILABLE. Latency: `accept` and `remove` one call to the object and one queue send
 * (and `remove` an R2 list and delete); `acceptFiles` adds a parse call and an R2 put per file
 * (PARSE_CONCURRENCY at a time); `index` an origin call, the vector writes and a few calls to the
 * object per message.
 */
export interface IngestService {
  accept(
    tenant: string,
    request: IngestRequest,
    context?: { log?: Logger },
  ): Promise<{ jobId: string; accepted: number; statusUrl: string }>;
  /**
   * Documents from files: each parsed by the origin into located blocks, its original kept in the
   * files bucket, its text `textOfBlocks(blocks)` stored and indexed by blocks (so each chunk keeps
   * its page or section). A file the origin refuses is in `failed` and in the job's errors.
   */
  acceptFiles(tenant: string, request: FilesRequest, context?: { log?: Logger }): Promise<FilesAccepted>;
  /**
   * Indexes documents again from what is stored, with no new upload (after a model or chunking
   * change): each document made from a file re-parsed from its original through the origin, each
   * sent as text from its stored text; every one re-chunked and re-embedded under a new revision,
   * its current chunks searchable until the new ones commit. One page of at most `limit` documents
   * (`ids`, or the collection's or every document after `after`); `nextAfter` names the next page.
   * A document whose original the origin now refuses (or that is missing) fails alone in the job,
   * its indexed version kept; no origin to parse fails the page whole (503, nothing changed).
   */
  reindex(tenant: string, request: ReindexRequest, context?: { log?: Logger }): Promise<ReindexAccepted>;
  /** The original of a document made from a file; null when the tenant has no such document, or it was not made from a file. */
  original(tenant: string, id: string): Promise<StoredFile | null>;
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

/** One uploaded file, its document id settled (its file name, or the one its metadata named). */
export interface FileUpload {
  id: string;
  filename: string;
  contentType: string;
  body: Blob;
  /** This file's own document metadata, in place of the request's (POST /v1/documents/files with one `metadata` per file). */
  metadata?: DocumentMetadata;
}

export interface FilesRequest {
  /** The files the origin parses. */
  files: FileUpload[];
  /** JSON Lines files, read by the worker into their lines' documents (json-lines.ts): JSON documents, no original kept. */
  jsonLines?: JsonLinesFile[];
  collection?: string;
  /** Every file's document metadata (unless the file has its own); a file's own title (the parser's) is added where it names none. */
  metadata?: DocumentMetadata;
}

export interface FilesAccepted {
  jobId: string;
  /** Documents stored (unchanged ones included; the job counts them as skipped). */
  accepted: number;
  /** The files refused, each with its document's error (`CODE: detail`), as the job lists them. */
  failed: Array<{ document_id: string; error: string }>;
  statusUrl: string;
}

export interface ReindexRequest {
  collection?: string;
  ids?: string[];
  after?: string;
  limit: number;
}

export interface ReindexAccepted extends FilesAccepted {
  /** The last document of this page when another follows (pass it as `after`), else null. */
  nextAfter: string | null;
}

export interface IngestServiceDeps {
  tenantData: TenantDataFor;
  /** The originals of documents made from files. */
  files: FileStore;
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

/** Files of one upload parsed at once: the origin parses on its event loop, and a Worker holds 6 connections. */
const PARSE_CONCURRENCY = 2;

const newJobId = () => `job_${randomHex(16)}`;

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
    // A tenant of several shards: jobs whose part here finished with no worker left to record their webhook event.
    for (const jobId of await store.jobsAwaitingEvent(now - ENQUEUE_GRACE_MS, JOBS_PER_SWEEP))
      await tenantData(tenant).settleJobEvent(jobId);
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

  /**
   * The accept both routes share, in two steps. `record`: the tenant's object first (once it
   * answers, nothing accepted can be lost; a quota the documents would break refuses them before
   * anything is written). `enqueue`: then the queue (ids only), a shard's documents per message; a
   * failure leaves the job un-enqueued for the sweep (INGEST_QUEUE_UNAVAILABLE: the documents are stored).
   */
  const record = async (tenant: string, accepted: AcceptedDocument[], failed: Array<{ id: string; error: string }>, reindex = false) => {
    const { maxDocuments, maxBytes, maxChunks } = await deps.tenantLimits.get(tenant);
    const jobId = newJobId();
    const result = await tenantData(tenant).accept({
      documents: accepted,
      job: { id: jobId },
      failed,
      ...(reindex ? { reindex } : {}),
      quota: { maxDocuments, maxBytes, maxChunks },
      now: Date.now(),
    });
    if (!result.ok) throw quotaExceeded(result.quota, result.limit, result.usage, result.detail);
    // Nothing to index: the job finished at birth, and a tenant of several shards has its webhook
    // event recorded here (one shard's object records it with the job); what fails here, the sweep repairs.
    if (result.documents.every((document) => document.unchanged))
      await tenantData(tenant)
        .settleJobEvent(jobId)
        .catch((error) => defaultLog.warn("job event left to the sweep", { job_id: jobId, tenant, ...errorFields(error) }));
    return { jobId, statusUrl: `/v1/jobs/${jobId}`, documents: result.documents };
  };

  const enqueue = async (
    tenant: string,
    { jobId, statusUrl, documents }: Awaited<ReturnType<typeof record>>,
    log: Logger,
  ): Promise<void> => {
    const changed = byShard(documents.filter((document) => !document.unchanged));
    if (changed.size === 0) return;
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
  };

  /** Deletes originals no document points to; a failure only leaves bytes behind (logged), never a document without its file. */
  const deleteFiles = async (keys: string[], log: Logger) => {
    if (keys.length === 0) return;
    await deps.files
      .delete(keys)
      .catch((error) => log.warn("unused originals left in the files bucket", { files: keys.length, ...errorFields(error) }));
  };

  return {
    async accept(tenant, { documents, collection }, context = {}) {
      const recorded = await record(tenant, await acceptDocuments(documents, collection), []);
      await enqueue(tenant, recorded, context.log ?? defaultLog);
      return { jobId: recorded.jobId, accepted: documents.length, statusUrl: recorded.statusUrl };
    },

    async acceptFiles(tenant, { files, jsonLines = [], collection = DEFAULT_COLLECTION, metadata = {} }, context = {}) {
      const log = context.log ?? defaultLog;
      // 1. Every file parsed before anything is stored: an origin that cannot parse fails the
      // request whole (nothing stored; the client retries); a file it refuses fails alone.
      const origin = deps.origin.forTenant(tenant);
      const parsed = await mapWithConcurrency(files, PARSE_CONCURRENCY, async (file): Promise<Parsed> => {
        try {
          // The origin reads the name for its extension, and takes at most 255 characters of it.
          const answer = await origin.parse({ body: file.body, contentType: file.contentType, filename: file.filename.slice(-255) });
          const typed = { ...file, contentType: storedContentType(file.contentType, answer.format) };
          return await fileDocument(typed, answer.blocks, answer.title, collection, file.metadata ?? metadata);
        } catch (error) {
          if (error instanceof FileRefused) return { failed: { id: file.id, error: error.jobError } };
          throw error;
        }
      });
      const documents = parsed.flatMap((result) => ("document" in result ? [result] : []));
      // JSON Lines: each good line a JSON document (after the files', so positions below still match), each bad one its failure.
      const lineDocuments = await acceptDocuments(
        jsonLines.flatMap((file) => file.lines.flatMap((entry) => ("document" in entry ? [entry.document] : []))),
        collection,
      );
      const failed = [
        ...parsed.flatMap((result) => ("failed" in result ? [result.failed] : [])),
        ...jsonLines.flatMap((file) => [
          ...(file.failed ? [file.failed] : []),
          ...file.lines.flatMap((entry) => ("failed" in entry ? [entry.failed] : [])),
        ]),
      ];

      // 2. The originals, each under a key of its own, then the documents that point to them: a
      // stored document always has its original. If the object refuses or fails, the bytes go.
      const uploaded: string[] = [];
      let recorded: Awaited<ReturnType<typeof record>>;
      try {
        for (const { file, document } of documents) {
          document.fileKey = await deps.files.put(tenant, document.id, file);
          uploaded.push(document.fileKey);
        }
        recorded = await record(tenant, [...documents.map(({ document }) => document), ...lineDocuments], failed);
      } catch (error) {
        await deleteFiles(uploaded, log);
        throw error;
      }
      // 3. What no document points to any more: the originals replaced, and the new ones of documents sent again unchanged.
      await deleteFiles(
        recorded.documents.flatMap((stored, i) =>
          stored.unchanged && i < documents.length
            ? [documents[i]!.document.fileKey!]
            : stored.replacedFile && !stored.unchanged
              ? [stored.replacedFile]
              : [],
        ),
        log,
      );
      await enqueue(tenant, recorded, log);
      return {
        jobId: recorded.jobId,
        accepted: documents.length + lineDocuments.length,
        failed: failed.map(({ id, error }) => ({ document_id: id, error })),
        statusUrl: recorded.statusUrl,
      };
    },

    async reindex(tenant, request, context = {}) {
      const log = context.log ?? defaultLog;
      // An id named twice is one document of the job (its rows are keyed by document).
      const ids = request.ids === undefined ? undefined : [...new Set(request.ids)];
      const page = await tenantData(tenant).reindexSources({ ...request, ids });
      const found = new Set(page.documents.map((document) => document.id));
      const missing = (ids ?? []).filter((id) => !found.has(id)).map((id) => ({ id, error: "NOT_FOUND: no such document" }));
      const origin = deps.origin.forTenant(tenant);
      const rebuilt = await mapWithConcurrency(
        page.documents,
        PARSE_CONCURRENCY,
        async (stored): Promise<{ document: AcceptedDocument } | { failed: { id: string; error: string } }> => {
          if (stored.fileKey === null) {
            // Sent as text: its stored text and metadata, hashed as it was accepted.
            const layout = stored.layout ?? undefined;
            const hash = await contentHash(stored.collection, stored.text, stored.metadata, layout);
            return { document: { ...stored, hash } };
          }
          const original = await deps.files.get(tenant, stored.fileKey);
          if (!original)
            return {
              failed: { id: stored.id, error: "ORIGINAL_MISSING: the document's original is not in the files bucket; upload it again" },
            };
          try {
            const body = await new Response(original.body).blob();
            const answer = await origin.parse({ body, contentType: original.contentType, filename: original.filename.slice(-255) });
            // The metadata it was accepted with (its title included) is kept; only the text and its layout are the parser's again.
            const parsed = await fileDocument(
              { id: stored.id, filename: original.filename, contentType: original.contentType, body },
              answer.blocks,
              null,
              stored.collection,
              stored.metadata,
            );
            if ("failed" in parsed) return parsed;
            return { document: { ...parsed.document, fileKey: stored.fileKey } };
          } catch (error) {
            if (error instanceof FileRefused) return { failed: { id: stored.id, error: error.jobError } };
            throw error;
          }
        },
      );
      const documents = rebuilt.flatMap((result) => ("document" in result ? [result.document] : []));
      const failed = [...missing, ...rebuilt.flatMap((result) => ("failed" in result ? [result.failed] : []))];
      const recorded = await record(tenant, documents, failed, true);
      await enqueue(tenant, recorded, log);
      return {
        jobId: recorded.jobId,
        accepted: documents.length,
        failed: failed.map(({ id, error }) => ({ document_id: id, error })),
        statusUrl: recorded.statusUrl,
        nextAfter: page.nextAfter,
      };
    },

    async original(tenant, id) {
      const key = await tenantData(tenant).fileKey(id);
      return key === null ? null : deps.files.get(tenant, key);
    },

    async remove(tenant, id, context = {}) {
      const log = context.log ?? defaultLog;
      // The object decides: chunks and document go in one transaction with the index-version bump,
      // and queries only return chunks it still has. The vectors follow; a failure there is retried by the sweep.
      const { shard, object } = await tenantData(tenant).shardFor(id);
      if (!(await object.remove(id, Date.now()))) return false;
      // Shard 0 forgot it in the same transaction; on another shard, bucket sync's records (shard 0's) are told.
      if (shard !== 0)
        await tenantData(tenant)
          .syncState()
          .forgetSyncDocument(id)
          .catch((error) =>
            log.warn("bucket sync may not index the deleted document again until its object changes", { tenant, ...errorFields(error) }),
          );
      // This isolate's next query reads the bumped index version, so no cached answer citing it matches.
      deps.tenants.forget(tenant);
      await purgeDeletedVectors(object, deps.vectors).catch((error) => {
        log.warn("vector delete deferred to the sweep", { tenant, ...errorFields(error) });
      });
      // Its originals (none for a text document); what a bucket failure leaves is deleted with the tenant.
      await deps.files.deleteDocument(tenant, id).catch((error) => {
        log.warn("the document's originals were left in the files bucket", { tenant, ...errorFields(error) });
      });
      return true;
    },

    async index(message, options = {}) {
      const shard = message.shard ?? 0;
      const store = tenantData(message.tenant).shard(shard);
      const pending = await store.pendingJobDocuments(message.job_id, message.document_ids);
      let outcomes: DocumentOutcome[] = [];
      if (pending.length > 0) {
        await store.markProcessing(message.job_id, Date.now());
        const targets = pending.map(({ documentId, contentHash }) => ({ documentId, contentHash }));
        outcomes = await indexRecorded(deps, message.tenant, targets, { ...options, jobId: message.job_id, shard });
      }
      // A tenant of several shards: the job's event once its last part settled (also on a message
      // redelivered after a failure here); what fails here, the sweep repairs.
      await tenantData(message.tenant)
        .settleJobEvent(message.job_id, shard)
        .catch((error) =>
          defaultLog.warn("job event left to the sweep", { job_id: message.job_id, tenant: message.tenant, ...errorFields(error) }),
        );
      return outcomes;
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

/** A file parsed into its document (its `fileKey` set once its original is stored), or refused with its job error. */
type Parsed = { file: FileUpload; document: AcceptedDocument } | { failed: { id: string; error: string } };

/** The media type of each format the origin parses, for an original that came without one of its own. */
const FORMAT_MEDIA_TYPES: Record<ParseResponse["format"], string> = {
  pdf: "application/pdf",
  html: "text/html",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  markdown: "text/markdown",
  text: "text/plain",
};

/**
 * The type an original is stored and served with: its own, or, when it came untyped (an upload
 * part without one, a bucket object put without `--content-type`: application/octet-stream), the
 * type of the format the origin read it as (by its extension), so GET …/file serves a PDF as one.
 */
const storedContentType = (contentType: string, format: ParseResponse["format"]) =>
  contentType.split(";")[0]!.trim().toLowerCase() === "application/octet-stream" ? FORMAT_MEDIA_TYPES[format] : contentType;

/**
 * The document a parsed file makes: its text the blocks' texts joined (textOfBlocks), checked as
 * any document's text is, its layout their locations, its metadata the request's with the file's
 * own title where it names none (kept only while the metadata stays within its limits).
 */
async function fileDocument(
  file: FileUpload,
  parsedBlocks: LocatedBlock[],
  title: string | null,
  collection: string,
  requestMetadata: DocumentMetadata,
): Promise<Parsed> {
  const { DocumentTextSchema, MetadataSchema } = documentSchemas();
  // NUL cuts strings short in SQLite and FTS5 (document-input.ts): dropped, and with it any block it leaves empty.
  const blocks = parsedBlocks
    .map((block) => ({ ...block, text: block.text.replaceAll("\u0000", "") }))
    .filter((block) => block.text.trim().length > 0);
  const text = textOfBlocks(blocks);
  const checked = DocumentTextSchema.safeParse(text);
  if (blocks.length === 0 || !checked.success) {
    const reason = blocks.length === 0 ? "has no text" : (checked.error?.issues[0]?.message ?? "is not a valid text");
    return { failed: { id: file.id, error: `${blocks.length === 0 ? "NO_TEXT" : "DOCUMENT_TOO_LONG"}: the file's text ${reason}` } };
  }
  const titled = title !== null && requestMetadata.title === undefined ? { ...requestMetadata, title } : requestMetadata;
  const metadata = MetadataSchema.safeParse(titled).success ? titled : requestMetadata;
  const layout = layoutOf(blocks);
  return {
    file,
    document: { id: file.id, collection, text, metadata, layout, hash: await contentHash(collection, text, metadata, layout) },
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
