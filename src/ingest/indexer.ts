import { OriginBadResponse, OriginRejected, StoreUnavailable } from "../errors";
import { errorFields, log } from "../logger";
import type { OriginClient, Origins } from "../origin/origin-client";
import type { OriginDocument } from "../shared/origin-contract";
import type { TenantLimitsStore } from "../store/tenant-limits";
import type { DocumentOutcome, IndexTarget, LoadedDocument, ReadyDocument } from "../tenant/tenant-data";
import type { TenantDataFor, TenantDataStub } from "../tenant/tenant-data-port";
import { shardShare } from "../tenant/tenant-shards";
import type { VectorIndex } from "../vector/vector-index";
import { type DocumentMetadata, documentTitle } from "./document-input";
import { chunkId } from "./hashing";
import { blocksOf, sectionLabel } from "./layout";
import {
  DEFAULT_VISIBILITY,
  PENDING_VECTOR_GRACE_MS,
  purgeDeletedVectors,
  upsertVectors,
  type VisibilityOptions,
  waitUntilVisible,
} from "./vector-writes";

/**
 * The indexing core, in the order the data flows (one function per phase, below):
 *   load work → chunk and embed (the origin) → admit (chunk quota) → to vectors → write visible
 *   vectors (the index) → commit (the tenant's object) → purge replaced vectors.
 * Documents recorded in the tenant's object are chunked and embedded by the origin; their vectors
 * are upserted into the tenant's namespace and confirmed visible; then one call to the object
 * commits, in one transaction, the chunks (its FTS5 index follows by trigger), each document
 * indexed with the metadata it was embedded with, the index version and the job's progress; last,
 * the replaced chunks' vectors are deleted.
 *
 * Promise: after `indexRecorded` returns, each target is `done` (its chunks are in the object and
 * its vectors are visible to queries), `skipped` or `failed` (a permanent failure, e.g. the origin
 * rejected the document); a transient failure (origin down, vector index failing, vectors not yet
 * visible, the object unreachable) throws an ApiError and nothing of the target is marked done, so a
 * retry redoes it. Every write is idempotent and guarded by the document's version (content hash
 * and revision): a retry never duplicates chunks, a document deleted or changed meanwhile is
 * skipped, not resurrected, and the vector ids of a version the document has left are never reused
 * (see chunkId), so purging them can never delete a live chunk's vector.
 */

/** What indexing needs of the services (declared here, not picked from Services: services.ts builds the ingest service from this module). */
export interface IngestServices {
  tenantData: TenantDataFor;
  vectors: VectorIndex;
  origin: Origins;
  tenantLimits: TenantLimitsStore;
}

export type { DocumentOutcome, IndexTarget } from "../tenant/tenant-data";

export interface IndexOptions {
  /** Dimensions the index expects (config EMBEDDING_DIMENSIONS); default: the index's describe(). */
  dimensions?: number;
  /** Record progress on this job's rows and status. */
  jobId?: string;
  /** The tenant's shard that holds the documents (tenant-shards.ts); default 0. */
  shard?: number;
  visibility?: VisibilityOptions;
}

export interface IndexSummary {
  documents: DocumentOutcome[];
  chunks: number;
  index_version: number;
}

/** Commits refused by a concurrent commit's chunks before this one gives up (the message is then retried). */
const COMMIT_ATTEMPTS = 3;

/** Indexes documents already recorded in the tenant's object (see the module promise). One origin call for all targets. */
export async function indexRecorded(
  services: IngestServices,
  tenant: string,
  targets: IndexTarget[],
  options: IndexOptions = {},
): Promise<DocumentOutcome[]> {
  if (targets.length === 0) return [];
  const lap = createLap();
  const store = services.tenantData(tenant).shard(options.shard ?? 0);
  const { work, skipped } = await store.loadWork(targets);
  lap("load");
  const { embedded, failed, model } = await chunkAndEmbed(services, tenant, work, options.dimensions);
  lap("embed");
  const limits = await services.tenantLimits.get(tenant);
  const maxChunks = shardShare(limits.maxChunks, limits.shards);
  let outcomes: DocumentOutcome[] | null = null;
  let ready: Ready[] = [];
  for (let attempt = 1; outcomes === null; attempt++) {
    const admission = await store.admitChunks(
      embedded.map(({ document, chunks }) => ({ id: document.id, chunks: chunks.length })),
      maxChunks,
    );
    const admitted = new Set(admission.admitted);
    ready = await toVectors(
      tenant,
      embedded.filter(({ document }) => admitted.has(document.id)),
    );
    lap("to_vectors");
    await writeVisibleVectors(services.vectors, store, ready, options.visibility ?? DEFAULT_VISIBILITY);
    lap("vectors");
    const result = await store.commit({
      ready: ready.map(({ document, chunks }) => ({
        id: document.id,
        contentHash: document.content_hash,
        revision: document.revision,
        collection: document.collection,
        title: documentTitle(JSON.parse(document.metadata) as DocumentMetadata),
        chunks,
      })),
      failed: [
        ...failed.map(({ document, error }) => ({ id: document.id, contentHash: document.content_hash, error })),
        ...admission.overQuota.map((over) => ({ id: over.id, contentHash: contentHashOf(embedded, over.id), error: over.error })),
      ],
      skipped: skipped.map((skip) => ({ id: skip.document_id, reason: skip.reason })),
      model,
      jobId: options.jobId,
      maxChunks,
      now: Date.now(),
    });
    lap("commit");
    // A concurrent commit took chunks since the admission: admit again against what is stored now.
    if (result.ok) outcomes = result.outcomes;
    else if (attempt >= COMMIT_ATTEMPTS) throw new StoreUnavailable(new Error("the chunk quota moved under three commits in a row"));
  }
  if (ready.length > 0) {
    await purgeDeletedVectors(store, services.vectors).catch((error) => {
      log.warn("vector purge deferred", { tenant, ...errorFields(error) });
    });
  }
  // Where a message's time goes (the origin should dominate; anything else is overhead to pipeline).
  log.info("documents indexed", {
    tenant,
    documents: targets.length,
    chunks: ready.reduce((sum, document) => sum + document.chunks.length, 0),
    phases_ms: lap("reconcile"),
  });

  const byId = new Map(outcomes.map((outcome) => [outcome.document_id, outcome]));
  return targets.map((target) => byId.get(target.documentId)!);
}

type Failed = { document: LoadedDocument; error: string };

/** A document with its chunks and embeddings from the origin, checked. */
interface Embedded {
  document: LoadedDocument;
  chunks: OriginDocument["chunks"];
}

/** A document ready to commit: its chunk rows, with their ids and locations, and their vectors. */
interface Ready {
  document: LoadedDocument;
  chunks: ReadyDocument["chunks"];
  vectors: VectorizeVector[];
}

const contentHashOf = (embedded: Embedded[], id: string) => embedded.find(({ document }) => document.id === id)!.document.content_hash;

/** Phase timer: each call records the time since the previous one under `phase`, and returns them all. */
function createLap(): (phase: string) => Record<string, number> {
  const phases: Record<string, number> = {};
  let last = performance.now();
  return (phase) => {
    const now = performance.now();
    phases[phase] = Math.round(now - last);
    last = now;
    return phases;
  };
}

// ─── Chunk and embed ────────────────────────────────────────────────────────────────────────────

/**
 * One origin call for all the work (see `embed`). A document the origin refuses, or whose
 * embeddings the index cannot store, fails here, permanently; the others come back embedded.
 */
async function chunkAndEmbed(
  services: IngestServices,
  tenant: string,
  work: LoadedDocument[],
  dimensions: number | undefined,
): Promise<{ embedded: Embedded[]; failed: Failed[]; model: string | null }> {
  if (work.length === 0) return { embedded: [], failed: [], model: null };
  const { results, model } = await embed(services.origin.forTenant(tenant), work);
  const expected = dimensions ?? (await services.vectors.describe()).dimensions;
  const embedded: Embedded[] = [];
  const failed: Failed[] = [];
  for (const document of work) {
    const result = results.get(document.id);
    const problem = typeof result === "string" ? result : checkEmbedding(result, expected);
    if (problem) failed.push({ document, error: problem });
    else embedded.push({ document, chunks: (result as OriginDocument).chunks });
  }
  return { embedded, failed, model };
}

// ─── To vectors ─────────────────────────────────────────────────────────────────────────────────

/** Chunk ids from the document's version (see chunkId), and vectors carrying the document's metadata, id and collection. */
function toVectors(tenant: string, embedded: Embedded[]): Promise<Ready[]> {
  return Promise.all(
    embedded.map(async ({ document, chunks }) => {
      const version = { contentHash: document.content_hash, revision: document.revision };
      const ids = await Promise.all(chunks.map((_, index) => chunkId(tenant, document.id, version, index)));
      const metadata = {
        ...(JSON.parse(document.metadata) as DocumentMetadata),
        document_id: document.id,
        collection: document.collection,
      };
      return {
        document,
        chunks: chunks.map((chunk, index) => ({
          id: ids[index]!,
          index,
          text: chunk.text,
          start: chunk.start,
          end: chunk.end,
          page: chunk.page ?? null,
          section: sectionLabel(chunk.section),
        })),
        vectors: chunks.map((chunk, index) => ({ id: ids[index]!, values: chunk.vector, namespace: tenant, metadata })),
      };
    }),
  );
}

// ─── Write visible vectors ──────────────────────────────────────────────────────────────────────

/**
 * Vectors first, confirmed visible (or VECTORS_NOT_VISIBLE, and the message is retried), so that
 * whatever the object calls indexed is searchable both ways. A retry upserts the same ids again.
 */
async function writeVisibleVectors(
  vectors: VectorIndex,
  store: TenantDataStub,
  ready: Ready[],
  visibility: VisibilityOptions,
): Promise<void> {
  const all = ready.flatMap((document) => document.vectors);
  if (all.length === 0) return;
  // Write-ahead: should this attempt never commit, what it upserted is still purged (vector-writes.ts).
  await store.recordPendingVectors(
    all.map((vector) => vector.id),
    Date.now() + PENDING_VECTOR_GRACE_MS,
  );
  await waitUntilVisible(vectors, await upsertVectors(vectors, all), visibility);
}

// ─── The origin call ────────────────────────────────────────────────────────────────────────────

/**
 * Chunks and embeds the documents in one origin call. A rejection (ORIGIN_REJECTED, the origin
 * refused the request itself) of several documents is retried one by one, so that one bad
 * document fails alone; a document the origin rejects on its own fails permanently. Anything
 * else (unavailable, timeout, malformed answer) throws: the message is retried.
 */
async function embed(
  origin: OriginClient,
  documents: LoadedDocument[],
): Promise<{ results: Map<string, OriginDocument | string>; model: string | null }> {
  const results = new Map<string, OriginDocument | string>();
  let model: string | null = null;
  const call = async (batch: LoadedDocument[]) => {
    // The client checked the answer's shape; what is left to check is that it covers the batch.
    // A document made from a file is chunked by its blocks, so that each chunk keeps its page or section.
    const answer = await origin.ingest(
      batch.map((document) =>
        document.layout === null
          ? { id: document.id, text: document.text }
          : { id: document.id, blocks: blocksOf(document.text, document.layout) },
      ),
    );
    model = answer.model;
    const byId = new Map(answer.documents.map((document) => [document.id, document]));
    for (const document of batch) {
      const result = byId.get(document.id);
      if (!result) throw new OriginBadResponse("the origin's ingest response left out a document");
      results.set(document.id, result);
    }
  };
  try {
    await call(documents);
  } catch (error) {
    if (!(error instanceof OriginRejected)) throw error;
    if (documents.length === 1) {
      results.set(documents[0]!.id, `${error.code}: ${error.detail}`);
    } else {
      for (const document of documents) {
        try {
          await call([document]);
        } catch (single) {
          if (!(single instanceof OriginRejected)) throw single;
          results.set(document.id, `${single.code}: ${single.detail}`);
        }
      }
    }
  }
  return { results, model };
}

/** Why an embedding cannot be stored, or null when it can. */
function checkEmbedding(result: OriginDocument | undefined, dimensions: number): string | null {
  if (!result) return "ORIGIN_BAD_RESPONSE: no chunks for the document";
  for (const [position, chunk] of result.chunks.entries()) {
    if (chunk.index !== position) return "ORIGIN_BAD_RESPONSE: chunks out of order";
    if (chunk.vector.length !== dimensions) {
      return `EMBEDDING_DIMENSIONS_MISMATCH: the origin returned ${chunk.vector.length}-dimensional vectors; the index holds ${dimensions}`;
    }
    if (chunk.end < chunk.start) return "ORIGIN_BAD_RESPONSE: a chunk ends before it starts";
  }
  return null;
}
