import { StoreUnavailable } from "../errors";
import { JOB_OUTCOMES_LISTED, type JobView } from "../ingest/job-store";
import type { FilterPlan } from "../retrieval/filters";
import type {
  AcceptRequest,
  AcceptResult,
  DeliveryToSend,
  DocumentSummary,
  KeywordHit,
  ReindexSource,
  StorageQuota,
  StoredDocument,
  TenantChunk,
  TenantData,
  TenantDataStats,
  WebhookView,
} from "./tenant-data";
import { shardObjectName, shardOf, shardShare } from "./tenant-shards";

/**
 * How the worker reaches a tenant's data plane: its TenantData objects, one per shard
 * (tenant-shards.ts; one for most tenants, named by the tenant, so every colo and isolate reaches
 * the same single instance), each created with the tenant's location hint (`tenants.region`) so
 * that its data sits near its users. A hint acts only when an object is first created; an object
 * never moves.
 *
 * Promise: the tenant's data as one store. A document's reads and writes go to the shard its id
 * hashes to; keyword search, hydration, listing, job and stats fan out to every shard in parallel
 * and merge (keyword hits by BM25, each shard scoring against its own statistics, which estimate
 * the tenant's since ids spread evenly, as a search engine's per-shard scoring does). An accept
 * that spans shards runs in two phases (each shard accepts under a hold, then every shard confirms,
 * or all abort), so a quota one shard refuses stores nothing anywhere. The per-shard operations of
 * the queue consumer and the sweep take `shard(n)`. Every failure (an object overloaded, reset or
 * unreachable, or a method that threw) rejects with StoreUnavailable (503, the cause kept for the
 * logs), as the guarded D1 binding does. Latency: one RPC round trip to the objects' location per
 * call (the shards in parallel), after the tenant's placement (its limits' row, cached in the
 * isolate: tenant-limits.ts).
 */
export type TenantDataStub = DurableObjectStub<TenantData>;
export type TenantDataFor = (tenant: string) => TenantDataPlane;

/** The object's bucket sync methods (TenantData: attach, detach, status, runs and their leases, per-object records). */
export type SyncStateStore = Pick<
  TenantDataStub,
  | "attachSyncSource"
  | "detachSyncSource"
  | "syncStatus"
  | "startSyncRun"
  | "claimSyncRun"
  | "planSyncPage"
  | "recordSyncObject"
  | "advanceSyncRun"
  | "staleSyncObjects"
  | "forgetSyncObjects"
  | "settleSyncRun"
  | "forgetSyncDocument"
>;

export interface TenantPlacement {
  /** 1 … MAX_SHARDS. */
  shards: number;
  /** A Durable Object location hint, or null to place by first access. */
  region: string | null;
}

const ONE_SHARD: TenantPlacement = { shards: 1, region: null };

export function tenantDataFor(
  namespace: DurableObjectNamespace<TenantData>,
  placementOf: (tenant: string) => Promise<TenantPlacement> = async () => ONE_SHARD,
): TenantDataFor {
  return (tenant) => new TenantDataPlane(namespace, tenant, placementOf);
}

/** An accepted document, with the shard that holds it. */
export type AcceptedPlacement = Extract<AcceptResult, { ok: true }>["documents"][number] & { shard: number };
type QuotaRefused = Extract<AcceptResult, { quota: unknown }>;
export type PlaneAcceptResult =
  | QuotaRefused
  | (Omit<Extract<AcceptResult, { ok: true }>, "documents"> & { documents: AcceptedPlacement[] });

/** How many collection names a sharded tenant's stats count at most (their union across shards). */
const COLLECTIONS_COUNTED = 10_000;

export class TenantDataPlane {
  constructor(
    private readonly namespace: DurableObjectNamespace<TenantData>,
    readonly tenant: string,
    private readonly placementOf: (tenant: string) => Promise<TenantPlacement>,
  ) {}

  /** One shard's object, for the operations that work shard by shard (the consumer, the sweep, deletion). */
  shard(index: number): TenantDataStub {
    return guardedStub(async () => this.objectAt(index, await this.placementOf(this.tenant)));
  }

  /** Every shard's object, in shard order. */
  async shards(): Promise<TenantDataStub[]> {
    const placement = await this.placement();
    return Array.from({ length: placement.shards }, (_, index) => guardedStub(async () => this.objectAt(index, placement)));
  }

  /** The shard that holds (or will hold) `documentId`. */
  async shardFor(documentId: string): Promise<{ shard: number; object: TenantDataStub }> {
    const placement = await this.placement();
    const shard = shardOf(documentId, placement.shards);
    return { shard, object: guardedStub(async () => this.objectAt(shard, placement)) };
  }

  // ─── Writes ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Accepts documents into their shards, each checking its share of the storage quotas
   * (tenant-shards.ts shardShare): all or nothing. Within one shard, one call; across shards, under
   * a hold that every shard confirms once all have accepted, or that each aborts (and the sweep
   * aborts, should this worker never come back: abortStaleHolds) when one refused or failed.
   */
  async accept(request: Omit<AcceptRequest, "shards" | "hold">): Promise<PlaneAcceptResult> {
    const { shards } = await this.placement();
    const quota = quotaShare(request.quota, shards);
    const groups = new Map<number, AcceptRequest["documents"]>();
    for (const document of request.documents) {
      const shard = shardOf(document.id, shards);
      groups.set(shard, [...(groups.get(shard) ?? []), document]);
    }
    // A document that failed before it was stored is recorded in its own shard's part of the job.
    const failedGroups = new Map<number, NonNullable<AcceptRequest["failed"]>>();
    for (const failed of request.failed ?? []) {
      const shard = shardOf(failed.id, shards);
      failedGroups.set(shard, [...(failedGroups.get(shard) ?? []), failed]);
      if (!groups.has(shard)) groups.set(shard, []);
    }
    if (groups.size <= 1) {
      const shard = groups.keys().next().value ?? 0;
      const result = await this.shard(shard).accept({ ...request, quota, shards });
      if ("misplaced" in result) throw new StoreUnavailable(new Error(result.detail));
      return result.ok ? { ...result, documents: result.documents.map((document) => ({ ...document, shard })) } : shareOf(result, shards);
    }

    const hold = request.job?.id ?? `hold_${crypto.randomUUID()}`;
    const parts = [...groups.keys()];
    const answers = await Promise.allSettled(
      parts.map((shard) =>
        this.shard(shard).accept({ ...request, documents: groups.get(shard)!, failed: failedGroups.get(shard) ?? [], quota, shards, hold }),
      ),
    );
    const settled = answers.map((answer) =>
      answer.status === "rejected"
        ? { failure: answer.reason as unknown }
        : "misplaced" in answer.value
          ? { failure: new StoreUnavailable(new Error(answer.value.detail)) }
          : { result: answer.value },
    );
    const failure = settled.find((answer) => "failure" in answer);
    const refusal = settled.find((answer) => answer.result && !answer.result.ok)?.result as QuotaRefused | undefined;
    if (failure || refusal) {
      // What an abort misses (a shard unreachable now) the sweep aborts once the hold is stale.
      await Promise.allSettled(parts.map((shard) => this.shard(shard).abortHold(hold)));
      if (failure) throw failure.failure;
      return shareOf(refusal!, shards);
    }
    await Promise.all(parts.map((shard) => this.shard(shard).confirmHold(hold)));
    const accepted = new Map<string, AcceptedPlacement>();
    const cost = { rowsRead: 0, rowsWritten: 0 };
    answers.forEach((answer, i) => {
      const result = (answer as PromiseFulfilledResult<Extract<AcceptResult, { ok: true }>>).value;
      for (const document of result.documents) accepted.set(document.id, { ...document, shard: parts[i]! });
      cost.rowsRead += result.cost.rowsRead;
      cost.rowsWritten += result.cost.rowsWritten;
    });
    return { ok: true, documents: request.documents.map((document) => accepted.get(document.id)!), cost };
  }

  /** Deletes a document from its shard (see TenantData.remove); false when there is none. */
  async remove(id: string, now: number): Promise<boolean> {
    return (await this.shardFor(id)).object.remove(id, now);
  }

  /**
   * The tenant's bucket sync state (bucket-sync.ts): its source, runs and per-object records, kept
   * by shard 0, the tenant's own object (the documents a run writes go to their own shards).
   */
  syncState(): SyncStateStore {
    return this.shard(0);
  }

  /** Starts a new cache epoch (kept by shard 0): every cached result of the tenant stops matching. */
  bumpCacheEpoch(): Promise<number> {
    return this.shard(0).bumpCacheEpoch();
  }

  // ─── Reads ───────────────────────────────────────────────────────────────────────────────────

  async getDocument(id: string): Promise<StoredDocument | null> {
    return (await this.shardFor(id)).object.getDocument(id);
  }

  /** The key of the document's original file, or null (no such document, or not made from a file). */
  async fileKey(id: string): Promise<string | null> {
    return (await this.shardFor(id)).object.fileKey(id);
  }

  /** One page in id order: each shard's page after the same id, merged, the first `limit` kept. */
  async listDocuments(
    options: Parameters<TenantData["listDocuments"]>[0],
  ): Promise<{ documents: DocumentSummary[]; nextAfter: string | null }> {
    const pages = await this.fanOut((object) => object.listDocuments(options));
    if (pages.length === 1) return pages[0]!;
    const merged = pages.flatMap((page) => page.documents).sort((a, b) => (a.id < b.id ? -1 : 1));
    const documents = merged.slice(0, options.limit);
    const more = merged.length > options.limit || pages.some((page) => page.nextAfter !== null);
    return { documents, nextAfter: more ? (documents.at(-1)?.id ?? null) : null };
  }

  /**
   * A page of what a re-index rebuilds from (TenantData.reindexSources): the named documents from
   * their shards, or each shard's page after the same id, merged, the first `limit` kept.
   */
  async reindexSources(
    options: Parameters<TenantData["reindexSources"]>[0],
  ): Promise<{ documents: ReindexSource[]; nextAfter: string | null }> {
    const pages = await this.fanOut((object) => object.reindexSources(options));
    if (pages.length === 1) return pages[0]!;
    const merged = pages.flatMap((page) => page.documents).sort((a, b) => (a.id < b.id ? -1 : 1));
    const documents = merged.slice(0, options.limit);
    const more = options.ids === undefined && (merged.length > options.limit || pages.some((page) => page.nextAfter !== null));
    return { documents, nextAfter: more ? (documents.at(-1)?.id ?? null) : null };
  }

  /** The job as every shard holding part of it reports it, added up; null when none does. */
  async job(id: string): Promise<JobView | null> {
    const objects = await this.shards();
    if (objects.length === 1) return objects[0]!.job(id);
    const [parts, versions] = await Promise.all([
      Promise.all(objects.map((object) => object.job(id))),
      Promise.all(objects.map(async (object) => (await object.stats()).index_version)),
    ]);
    const views = parts.filter((view) => view !== null) as JobView[];
    if (views.length === 0) return null;
    const sum = (field: "documents" | "processed" | "skipped" | "failed" | "queued" | "chunks") =>
      views.reduce((total, view) => total + view[field], 0);
    const statuses = views.map((view) => view.status);
    const finished = views.every((view) => view.finished_at !== null);
    return {
      id,
      status: statuses.every((status) => status === "queued")
        ? "queued"
        : !finished
          ? "processing"
          : statuses.includes("failed")
            ? "failed"
            : "done",
      documents: sum("documents"),
      processed: sum("processed"),
      skipped: sum("skipped"),
      failed: sum("failed"),
      queued: sum("queued"),
      chunks: sum("chunks"),
      errors: views
        .flatMap((view) => view.errors)
        .sort((a, b) => (a.document_id < b.document_id ? -1 : 1))
        .slice(0, JOB_OUTCOMES_LISTED),
      outcomes: views
        .flatMap((view) => view.outcomes)
        .sort((a, b) => (a.document_id < b.document_id ? -1 : 1))
        .slice(0, JOB_OUTCOMES_LISTED),
      index_version: versions.reduce((total, version) => total + version, 0),
      created_at: Math.min(...views.map((view) => view.created_at)),
      updated_at: Math.max(...views.map((view) => view.updated_at)),
      finished_at: finished ? Math.max(...views.map((view) => view.finished_at!)) : null,
    };
  }

  /**
   * The tenant's counters, summed over its shards. Its index version is the sum of theirs (each
   * only grows, so the sum moves whenever any shard's does); its cache epoch and embedding model
   * are shard 0's, which keeps them.
   */
  async stats(): Promise<TenantDataStats> {
    const all = await this.fanOut((object) => object.stats());
    if (all.length === 1) return all[0]!;
    const names = new Set((await this.fanOut((object) => object.collections({ limit: COLLECTIONS_COUNTED }))).flat());
    const total = (field: "documents" | "chunks" | "bytes" | "index_version") => all.reduce((sum, stats) => sum + stats[field], 0);
    return {
      documents: total("documents"),
      chunks: total("chunks"),
      bytes: total("bytes"),
      collections: names.size,
      index_version: total("index_version"),
      cache_epoch: all[0]!.cache_epoch,
      embedding_model: all[0]!.embedding_model ?? all.find((stats) => stats.embedding_model)?.embedding_model ?? null,
    };
  }

  /** The collections that have a document in any shard, in name order (`only`: that one, if it has). */
  async collections(options: { only?: string; limit: number }): Promise<string[]> {
    const lists = await this.fanOut((object) => object.collections(options));
    if (lists.length === 1) return lists[0]!;
    return [...new Set(lists.flat())].sort().slice(0, options.limit);
  }

  // ─── Webhooks (kept by shard 0, the tenant's own object) ──────────────────────────────────────

  createWebhook(request: Parameters<TenantData["createWebhook"]>[0]): Promise<ReturnType<TenantData["createWebhook"]>> {
    return this.shard(0).createWebhook(request);
  }

  listWebhooks(): Promise<WebhookView[]> {
    return this.shard(0).listWebhooks();
  }

  webhook(id: string): Promise<WebhookView | null> {
    return this.shard(0).webhook(id);
  }

  deleteWebhook(id: string): Promise<boolean> {
    return this.shard(0).deleteWebhook(id);
  }

  listDeliveries(webhookId: string, options: { before?: number; limit: number }): Promise<ReturnType<TenantData["listDeliveries"]>> {
    return this.shard(0).listDeliveries(webhookId, options);
  }

  deliveryToSend(id: string): Promise<DeliveryToSend | null> {
    return this.shard(0).deliveryToSend(id);
  }

  recordDeliveryAttempt(
    id: string,
    attempt: Parameters<TenantData["recordDeliveryAttempt"]>[1],
  ): Promise<ReturnType<TenantData["recordDeliveryAttempt"]>> {
    return this.shard(0).recordDeliveryAttempt(id, attempt);
  }

  /**
   * Records a finished job's webhook event for a tenant of several shards, once the job as every
   * shard reports it has finished: shard 0 records it (each delivery once, however often this runs),
   * then every shard marks its part notified. `from`: the shard whose part just settled (only then
   * is the job read across shards). A one-shard tenant's object records the event in the
   * transaction that finishes the job, so this does nothing for it. Called by the queue consumers
   * after a message, and by the sweep for parts left unnotified (a worker that never came back).
   */
  async settleJobEvent(jobId: string, from?: number): Promise<void> {
    const placement = await this.placement();
    if (placement.shards === 1) return;
    if (from !== undefined && !(await this.shard(from).jobAwaitingEvent(jobId))) return;
    const job = await this.job(jobId);
    if (!job || job.finished_at === null) return;
    const now = Date.now();
    await this.shard(0).recordJobEvent(job, now);
    await this.fanOut((object) => object.markJobNotified(jobId, now));
  }

  // ─── Retrieval ───────────────────────────────────────────────────────────────────────────────

  /** Keyword search over every shard, merged best BM25 first, at most `limit` (and their chunks with `hydrate`). */
  async keywordSearch(request: { match: string; plan: FilterPlan; limit: number; hydrate?: boolean }): Promise<{
    hits: KeywordHit[];
    chunks: TenantChunk[];
  }> {
    const answers = await this.fanOut((object) => object.keywordSearch(request));
    if (answers.length === 1) return answers[0]!;
    const hits = answers
      .flatMap((answer) => answer.hits)
      .sort((a, b) => b.bm25 - a.bm25 || (a.id < b.id ? -1 : 1))
      .slice(0, request.limit);
    const kept = new Set(hits.map((hit) => hit.id));
    return { hits, chunks: answers.flatMap((answer) => answer.chunks).filter((chunk) => kept.has(chunk.id)) };
  }

  /** The chunks among `ids` that still exist (in any shard) and satisfy the whole filter. */
  async hydrate(request: { ids: readonly string[]; plan: FilterPlan }): Promise<TenantChunk[]> {
    return (await this.fanOut((object) => object.hydrate(request))).flat();
  }

  /** Whether every one of `ids` is a chunk the tenant still has. */
  async chunksStillIndexed(ids: readonly string[]): Promise<boolean> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return true;
    const counts = await this.fanOut((object) => object.countChunks(unique));
    return counts.reduce((sum, n) => sum + n, 0) === unique.length;
  }

  // ─── Internals ───────────────────────────────────────────────────────────────────────────────

  private async placement(): Promise<TenantPlacement> {
    try {
      return await this.placementOf(this.tenant);
    } catch (error) {
      throw error instanceof StoreUnavailable ? error : new StoreUnavailable(error);
    }
  }

  /** Shard `index`'s object, with the tenant's location hint. */
  private objectAt(index: number, { region }: TenantPlacement): TenantDataStub {
    const id = this.namespace.idFromName(shardObjectName(this.tenant, index));
    return this.namespace.get(id, region ? { locationHint: region as DurableObjectLocationHint } : undefined);
  }

  /** Calls every shard in parallel; answers in shard order. */
  private async fanOut<T>(call: (object: TenantDataStub) => Promise<T>): Promise<T[]> {
    return Promise.all((await this.shards()).map(call));
  }
}

/** A shard's refusal, saying that its limit is the shard's share of the tenant's. */
function shareOf(refusal: QuotaRefused, shards: number): QuotaRefused {
  if (shards === 1) return refusal;
  return { ...refusal, detail: `${refusal.detail} (on one of its ${shards} shards, each of which holds its share of the quota)` };
}

/** The storage quotas as each of `shards` shards enforces them. */
function quotaShare(quota: StorageQuota, shards: number): StorageQuota {
  return {
    maxDocuments: shardShare(quota.maxDocuments, shards),
    maxBytes: shardShare(quota.maxBytes, shards),
    maxChunks: shardShare(quota.maxChunks, shards),
  };
}

/** A stub whose methods first resolve the object's stub, then call it, each rejection turned into StoreUnavailable. */
function guardedStub(resolve: () => Promise<TenantDataStub>): TenantDataStub {
  return new Proxy({} as TenantDataStub, {
    get(_target, property) {
      if (typeof property === "symbol" || property === "then") return undefined;
      return async (...args: unknown[]) => {
        try {
          const stub = await resolve();
          // Called through the stub, not `method.apply`: on an RPC stub, `apply` would be a remote method.
          return await Reflect.apply(Reflect.get(stub, property) as (...a: unknown[]) => unknown, stub, args);
        } catch (error) {
          throw error instanceof StoreUnavailable ? error : new StoreUnavailable(error);
        }
      };
    },
  });
}
