import { z } from "@hono/zod-openapi";
import { clientSafeError, serviceUnavailable } from "../errors";
import { log as defaultLog, errorFields } from "../logger";
import type { SyncLease, SyncRun, SyncStatus, SyncTrigger } from "../tenant/tenant-data";
import type { TenantDataFor } from "../tenant/tenant-data-port";
import { DEFAULT_COLLECTION, documentIdOf, FILE_LIMITS } from "./document-input";
import type { IngestService } from "./ingest-service";
import type { SyncMessage } from "./messages";
import type { SourceBucket } from "./source-bucket";

/**
 * Bucket sync (issue 27), built once in `createServices`: a tenant attaches a prefix of its area of
 * the operator's SOURCES bucket (source-bucket.ts), and each run makes the tenant's index follow
 * it, as Cloudflare AI Search's data sources do: new and changed objects (by ETag) are parsed and
 * indexed through the upload path (IngestService.acceptFiles: the origin's /v1/parse, the original
 * kept in the files bucket, one job per object), objects gone from the bucket have their documents
 * deleted (IngestService.remove: chunks, vectors and originals), unchanged ones are not read.
 *
 * State is tenant data, in the tenant's own object (TenantData's sync methods): the source, the
 * runs and one record per key. The control plane (D1 `sync_sources`) only lists the tenants with a
 * source, so the cron trigger (`schedule`) enqueues one sync message per tenant without waking any
 * tenant's object; POST /v1/sync/run (`runNow`) starts a run and enqueues it.
 *
 * A run (`run`, from the ingest queue's consumer) holds a lease on it (the message's id), renewed by
 * every write: one worker at a time, and a run whose worker died is taken over from its cursor
 * once the lease ends (by its message's retry at once, or by the next trigger). It pages through
 * the listing (SYNC_PAGE_SIZE keys a page), and after each page persists the cursor; each object's
 * outcome is recorded as soon as it is known, and a key this run already settled is skipped, so a
 * resumed run indexes no object twice. A file the parser refuses (corrupt, encrypted…) fails that
 * key alone, its error recorded, and is not read again until its ETag changes; any other failure on
 * one object (the origin down, a quota) is recorded and retried by the next run. Once the listing
 * is complete, the documents of the keys it did not see are deleted, and the run is `done`. A run
 * that reaches its invocation's budget (subrequests, time) gives its lease up and enqueues its own
 * continuation.
 *
 * Failure modes: attach/detach/status/runNow: STORE_UNAVAILABLE (the object or D1), and from
 * runNow INGEST_QUEUE_UNAVAILABLE (503) after the run is recorded (the next cron continues it). `run`
 * rejects when the object, the bucket or the queue fails (the message is retried, and resumes).
 * Latency: attach/detach one D1 write and one object call; a run one list and a few object calls
 * per page, and per new or changed object an R2 read plus what an upload of one file costs.
 */
export interface BucketSyncService {
  /** Attaches or replaces the tenant's source (see TenantData.attachSyncSource). */
  attach(tenant: string, source: { prefix: string; collection?: string }): Promise<SyncStatus>;
  /** Detaches it; the documents it synced stay. False when none was attached. */
  detach(tenant: string): Promise<boolean>;
  status(tenant: string): Promise<SyncStatus | null>;
  /** Starts a run (unless one is in progress: then that one, `started: false`) and enqueues it. Null without a source. */
  runNow(tenant: string): Promise<{ started: boolean; run: SyncRun } | null>;
  /** Works on the tenant's run as the queue message `holder` (see above). */
  run(tenant: string, message: { holder: string; trigger: SyncTrigger; generation?: number }, options?: RunOptions): Promise<RunResult>;
  /** The cron: one sync message per tenant with a source; resolves to how many. */
  schedule(): Promise<number>;
}

export interface RunOptions {
  /** Keys per listing page (default: the config's SYNC_PAGE_SIZE). */
  pageSize?: number;
  /** Pages this call lists before it gives the lease up and enqueues the rest (tests stop a run this way). */
  maxPages?: number;
  /** Whether a run stopped by its budget enqueues its continuation (default true). */
  continueLater?: boolean;
}

export type RunResult =
  /** No source, the run is over, or another message holds it. */
  | { status: "skipped" }
  /** The lease was lost mid-run (the source replaced or detached, or a lease outlived). */
  | { status: "lost"; generation: number }
  /** Stopped at its budget; its continuation is enqueued (unless `continueLater: false`). */
  | { status: "paused"; generation: number }
  | { status: "done"; generation: number };

export interface BucketSyncDeps {
  tenantData: TenantDataFor;
  sources: SourceBucket;
  ingest: Pick<IngestService, "acceptFiles" | "remove">;
  db: D1Database;
  queue: Queue;
  pageSize: number;
}

/** How long a run's lease lasts without a write: past the longest one object can take (its parse is ≤ ORIGIN_INGEST_TIMEOUT_MS). */
export const SYNC_LEASE_MS = 3 * 60_000;
/**
 * A run's budget per invocation, in estimated subrequests (a page ≈ 3, an object indexed ≈ 8, a
 * key removed ≈ 5), so that a run stays well inside a consumer invocation's subrequest limit; and
 * in wall time, well inside its 15 minutes. Past either, the run continues in a new message.
 */
export const SYNC_SUBREQUEST_BUDGET = 400;
export const SYNC_TIME_BUDGET_MS = 5 * 60_000;
const COST = { page: 3, object: 8, removal: 5 };
/** Keys removed per call to the object. */
const REMOVALS_PER_CALL = 50;
/** Failures GET /v1/sync lists. */
export const SYNC_FAILURES_LISTED = 100;
/** Tenants read per D1 query, and messages per sendBatch, when the cron enqueues. */
const TENANTS_PER_READ = 1_000;
const MESSAGES_PER_BATCH = 100;

/**
 * A prefix a tenant may attach: a path inside its area, "" (all of it) or segments separated by
 * "/" (a trailing one optional), none of them empty, `.` or `..`, without control characters or
 * backslashes, at most 512 characters. Stored with a trailing "/": it names a folder, so `docs`
 * never matches `docs-old/…`.
 */
export const SYNC_PREFIX_MAX_CHARS = 512;
const SEGMENT = /^[^/\\\p{Cc}]+$/u;
export const syncPrefixSchema = () =>
  z
    .string()
    .max(SYNC_PREFIX_MAX_CHARS)
    .refine((prefix) => {
      if (prefix === "") return true;
      const segments = (prefix.endsWith("/") ? prefix.slice(0, -1) : prefix).split("/");
      return segments.every((segment) => SEGMENT.test(segment) && segment !== "." && segment !== "..");
    }, "must be a path of folder names separated by / (no empty, . or .. segment, no backslash or control character)")
    .transform((prefix) => (prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`));

/**
 * A key's document id: the key relative to the prefix with each "/" made "-", then made an id as an
 * uploaded file's name is (documentIdOf): `guides/install.md` → `guides-install.md`.
 */
export const syncDocumentId = (key: string): string | null => documentIdOf(key.replaceAll("/", "-"));

export function createBucketSyncService(deps: BucketSyncDeps): BucketSyncService {
  const { tenantData, sources, ingest, db, queue } = deps;

  const send = (messages: SyncMessage[]) => queue.sendBatch(messages.map((body) => ({ body, contentType: "json" as const })));

  /** Indexes one listed object through the upload path; what to record of it. */
  const indexObject = async (
    tenant: string,
    source: { prefix: string; collection: string },
    item: { key: string; etag: string; documentId: string; size: number },
  ): Promise<{ etag: string } & ({ ok: true } | { ok: false; error: string; refused: boolean })> => {
    if (item.size > FILE_LIMITS.maxFileBytes)
      return {
        etag: item.etag,
        ok: false,
        refused: true,
        error: `PAYLOAD_TOO_LARGE: the object is ${item.size} bytes; a file may have at most ${FILE_LIMITS.maxFileBytes}`,
      };
    const object = await sources.get(tenant, source.prefix, item.key);
    // Deleted since it was listed: the next run's listing removes it.
    if (!object) return { etag: item.etag, ok: false, refused: false, error: "OBJECT_GONE: the object was deleted while the sync ran" };
    try {
      const accepted = await ingest.acceptFiles(tenant, {
        files: [
          {
            id: item.documentId,
            filename: item.key.slice(item.key.lastIndexOf("/") + 1),
            contentType: object.contentType,
            body: object.body,
          },
        ],
        collection: source.collection,
        metadata: { path: item.key },
      });
      const failed = accepted.failed[0];
      // The parser refused these bytes: recorded with their ETag, not read again until they change.
      if (failed) return { etag: object.etag, ok: false, refused: true, error: failed.error };
      return { etag: object.etag, ok: true };
    } catch (error) {
      defaultLog.warn("bucket sync could not index an object; the next run retries it", { tenant, ...errorFields(error) });
      return { etag: object.etag, ok: false, refused: false, error: clientSafeError(error) };
    }
  };

  return {
    async attach(tenant, { prefix, collection = DEFAULT_COLLECTION }) {
      // The control plane first: a tenant listed without a source costs the cron a message that does nothing.
      await db
        .prepare("INSERT INTO sync_sources (tenant, attached_at) VALUES (?1, ?2) ON CONFLICT (tenant) DO NOTHING")
        .bind(tenant, Date.now())
        .run();
      const store = tenantData(tenant).syncState();
      await store.attachSyncSource({ prefix, collection }, Date.now());
      return (await store.syncStatus(SYNC_FAILURES_LISTED))!;
    },

    async detach(tenant) {
      const detached = await tenantData(tenant).syncState().detachSyncSource();
      await db.prepare("DELETE FROM sync_sources WHERE tenant = ?1").bind(tenant).run();
      return detached;
    },

    status: (tenant) => tenantData(tenant).syncState().syncStatus(SYNC_FAILURES_LISTED),

    async runNow(tenant) {
      const started = await tenantData(tenant).syncState().startSyncRun("manual", Date.now());
      if (!started) return null;
      // Queued even for a run in progress: its lease keeps a second worker off it while its worker
      // lives, and the message takes it over (from its cursor) if that worker died.
      try {
        await send([{ v: 1, tenant, sync: "manual", generation: started.run.generation }]);
      } catch (error) {
        defaultLog.error("bucket sync enqueue failed", { tenant, ...errorFields(error) });
        throw serviceUnavailable(
          "INGEST_QUEUE_UNAVAILABLE",
          "the run is recorded but could not be queued; the next scheduled sync (within 15 minutes) continues it, or retry",
          30,
        );
      }
      return started;
    },

    async run(tenant, { holder, trigger, generation }, options = {}) {
      const store = tenantData(tenant).syncState();
      const claimed = await store.claimSyncRun({ holder, trigger, generation, now: Date.now(), leaseMs: SYNC_LEASE_MS });
      if (!claimed) return { status: "skipped" };
      const { run, source } = claimed;
      const lease = (): SyncLease => ({ generation: run.generation, holder, now: Date.now(), leaseMs: SYNC_LEASE_MS });
      const lost = { status: "lost", generation: run.generation } as const;
      const pageSize = options.pageSize ?? deps.pageSize;
      const started = Date.now();
      let spent = 0;
      let pages = 0;
      const overBudget = () =>
        spent >= SYNC_SUBREQUEST_BUDGET ||
        Date.now() - started >= SYNC_TIME_BUDGET_MS ||
        (options.maxPages !== undefined && pages >= options.maxPages);
      const pause = async (): Promise<RunResult> => {
        await store.settleSyncRun({ generation: run.generation, holder, now: Date.now() }, true);
        if (options.continueLater !== false) await send([{ v: 1, tenant, sync: trigger, generation: run.generation }]);
        return { status: "paused", generation: run.generation };
      };

      // 1. The listing, a page at a time, from where the run was.
      let { cursor, listed } = run;
      while (!listed) {
        if (overBudget()) return pause();
        const page = await sources.list(tenant, source.prefix, { cursor: cursor ?? undefined, limit: pageSize });
        const sizes = new Map(page.objects.map((object) => [object.key, object.size]));
        const work = await store.planSyncPage(
          lease(),
          page.objects.map((object) => ({ key: object.key, etag: object.etag, documentId: syncDocumentId(object.key) })),
        );
        if (work === null) return lost;
        for (const item of work) {
          const outcome = await indexObject(tenant, source, { ...item, size: sizes.get(item.key) ?? 0 });
          if (!(await store.recordSyncObject(lease(), { ...item, ...outcome }))) return lost;
          spent += COST.object;
        }
        cursor = page.cursor;
        listed = cursor === null;
        if (!(await store.advanceSyncRun(lease(), cursor, listed))) return lost;
        spent += COST.page;
        pages++;
      }

      // 2. The keys the complete listing did not see: their documents go (chunks, vectors, originals).
      for (;;) {
        if (spent >= SYNC_SUBREQUEST_BUDGET || Date.now() - started >= SYNC_TIME_BUDGET_MS) return pause();
        const stale = await store.staleSyncObjects(run.generation, REMOVALS_PER_CALL);
        if (stale.length === 0) break;
        let removed = 0;
        for (const { documentId } of stale) if (documentId !== null && (await ingest.remove(tenant, documentId))) removed++;
        if (
          !(await store.forgetSyncObjects(
            lease(),
            stale.map((object) => object.key),
            removed,
          ))
        )
          return lost;
        spent += COST.removal * stale.length;
      }

      return (await store.settleSyncRun({ generation: run.generation, holder, now: Date.now() }))
        ? { status: "done", generation: run.generation }
        : lost;
    },

    async schedule() {
      let sent = 0;
      for (let after = ""; ; ) {
        const { results } = await db
          .prepare("SELECT tenant FROM sync_sources WHERE tenant > ?1 ORDER BY tenant LIMIT ?2")
          .bind(after, TENANTS_PER_READ)
          .all<{ tenant: string }>();
        for (let i = 0; i < results.length; i += MESSAGES_PER_BATCH)
          await send(
            results.slice(i, i + MESSAGES_PER_BATCH).map(({ tenant }) => ({ v: 1, tenant, sync: "scheduled" }) satisfies SyncMessage),
          );
        sent += results.length;
        if (results.length < TENANTS_PER_READ) return sent;
        after = results.at(-1)!.tenant;
      }
    },
  };
}
