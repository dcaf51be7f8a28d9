import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { notFound } from "../errors";
import { SYNC_FAILURES_LISTED, SYNC_PREFIX_MAX_CHARS, syncPrefixSchema } from "../ingest/bucket-sync";
import { documentSchemas } from "../ingest/document-input";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, jsonBody, jsonResponse, notFoundError, security, validationErrors } from "../schemas";
import type { SyncRun, SyncStatus } from "../tenant/tenant-data";

/**
 * Bucket sync (src/ingest/bucket-sync.ts): a tenant's admin attaches a prefix of the tenant's area of
 * the SOURCES bucket, runs a sync now, or detaches it; readers see the source and its last run.
 */
export function createSyncRoutes() {
  const syncRoutes = new OpenAPIHono<AppEnv>();
  const { CollectionSchema } = documentSchemas();

  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

  const AttachSchema = z
    .strictObject({
      prefix: syncPrefixSchema().openapi({
        description: `A folder of the tenant's area of the SOURCES bucket (keys under \`tenants/<tenant>/sources/<prefix>\`): "" for all of it, else folder names separated by "/" (no empty, \`.\` or \`..\` segment), at most ${SYNC_PREFIX_MAX_CHARS} characters. A trailing "/" is added.`,
        example: "handbook/",
      }),
      collection: CollectionSchema.optional().openapi({ description: "The collection of the documents it makes (default `default`)" }),
    })
    .openapi("SyncSourceRequest");

  const RunSchema = z
    .object({
      generation: z.number().int().openapi({ description: "The run's number" }),
      state: z.enum(["running", "done", "cancelled"]).openapi({ description: "cancelled: the source was replaced while it ran" }),
      trigger: z.enum(["manual", "scheduled"]),
      started_at: z.string(),
      updated_at: z.string(),
      finished_at: z.string().nullable(),
      counts: z.object({
        added: z.number().int(),
        changed: z.number().int(),
        removed: z.number().int(),
        unchanged: z.number().int(),
        failed: z.number().int(),
      }),
      failures: z
        .array(z.object({ key: z.string(), error: z.string().openapi({ example: "FILE_CORRUPT: the PDF could not be read" }) }))
        .openapi({
          description: `The keys (relative to the prefix) that failed in this run, with their errors as \`CODE: detail\` (at most ${SYNC_FAILURES_LISTED})`,
        }),
    })
    .openapi("SyncRun");

  const StatusSchema = z
    .object({
      source: z.object({ prefix: z.string(), collection: z.string(), attached_at: z.string(), updated_at: z.string() }),
      run: RunSchema.nullable().openapi({ description: "The latest run (in progress or finished); null before the first" }),
      objects: z.number().int().openapi({ description: "Objects indexed from the source" }),
    })
    .openapi("SyncStatus");

  const presentRun = (run: SyncRun, failures: SyncStatus["failures"]) => ({
    generation: run.generation,
    state: run.state,
    trigger: run.trigger,
    started_at: iso(run.started_at)!,
    updated_at: iso(run.updated_at)!,
    finished_at: iso(run.finished_at),
    counts: { added: run.added, changed: run.changed, removed: run.removed, unchanged: run.unchanged, failed: run.failed },
    failures,
  });
  const present = (status: SyncStatus) => ({
    source: {
      prefix: status.source.prefix,
      collection: status.source.collection,
      attached_at: iso(status.source.attached_at)!,
      updated_at: iso(status.source.updated_at)!,
    },
    run: status.run === null ? null : presentRun(status.run, status.failures),
    objects: status.objects,
  });
  const noSource = () => notFound("a bucket sync source for this tenant");

  // Rate-limited in each handler, after validation: an invalid request costs no token.
  const admin = [authenticate({ role: "admin" })];

  // ─── PUT /v1/sync ───────────────────────────────────────────────────────────────────────────────

  const attach = createRoute({
    method: "put",
    path: "/v1/sync",
    operationId: "attachSyncSource",
    summary: "Attach (or replace) the tenant's bucket sync source; the next run indexes it",
    description:
      "The tenant's area of the operator's SOURCES R2 bucket is `tenants/<tenant>/sources/`; the prefix is a folder inside it, so no tenant can name another's keys. Each object under it becomes a document whose id is its key relative to the prefix with `/` made `-` (as an uploaded file's name is made an id), parsed as POST /v1/documents/files parses files. A new prefix or collection makes the next run read every object again (under the new collection) and remove the documents of keys no longer under the prefix; a run in progress is cancelled. Runs start every 15 minutes (cron) or with POST /v1/sync/run.",
    security,
    middleware: admin,
    request: { body: jsonBody(AttachSchema) },
    responses: { 200: jsonResponse("The source, attached", StatusSchema), ...validationErrors, ...authErrors },
  });

  syncRoutes.openapi(attach, async (c) => {
    const { prefix, collection } = c.req.valid("json");
    await chargeRoute(c, "ingest");
    return c.json(present(await c.var.services.bucketSync.attach(c.var.principal.tenant, { prefix, collection })), 200);
  });

  // ─── GET /v1/sync ───────────────────────────────────────────────────────────────────────────────

  const status = createRoute({
    method: "get",
    path: "/v1/sync",
    operationId: "getSyncStatus",
    summary: "The tenant's bucket sync source and its latest run: state, counts and failures",
    security,
    middleware: [authenticate({ role: "reader" })],
    responses: { 200: jsonResponse("The source and its latest run", StatusSchema), ...authErrors, ...notFoundError },
  });

  syncRoutes.openapi(status, async (c) => {
    await chargeRoute(c, "query");
    const current = await c.var.services.bucketSync.status(c.var.principal.tenant);
    if (!current) throw noSource();
    return c.json(present(current), 200);
  });

  // ─── POST /v1/sync/run ──────────────────────────────────────────────────────────────────────────

  const run = createRoute({
    method: "post",
    path: "/v1/sync/run",
    operationId: "runSync",
    summary: "Run a bucket sync now, in the background (poll GET /v1/sync)",
    description:
      "Starts a run and queues it, unless a run is in progress: that one is not started twice, and the answer is it, with `started: false` (it is queued again, which only takes it over if its worker died). If the queue cannot take it, 503 INGEST_QUEUE_UNAVAILABLE: the run is recorded, and the next scheduled sync continues it. A run indexes new and changed objects (by ETag), deletes the documents of deleted ones, and leaves unchanged ones unread.",
    security,
    middleware: admin,
    responses: {
      202: jsonResponse(
        "The run started (or the one in progress)",
        z
          .object({
            started: z.boolean(),
            run: RunSchema.omit({ failures: true }),
            status_url: z.string().openapi({ example: "/v1/sync" }),
          })
          .openapi("SyncRunStarted"),
      ),
      ...authErrors,
      ...notFoundError,
    },
  });

  syncRoutes.openapi(run, async (c) => {
    await chargeRoute(c, "ingest");
    const started = await c.var.services.bucketSync.runNow(c.var.principal.tenant);
    if (!started) throw noSource();
    c.header("location", "/v1/sync");
    const { failures: _, ...run } = presentRun(started.run, []);
    return c.json({ started: started.started, run, status_url: "/v1/sync" }, 202);
  });

  // ─── DELETE /v1/sync ────────────────────────────────────────────────────────────────────────────

  const detach = createRoute({
    method: "delete",
    path: "/v1/sync",
    operationId: "detachSyncSource",
    summary: "Detach the bucket sync source; the documents it synced stay",
    description:
      "The source, its runs and its per-object records go, and the cron no longer runs it; a run in progress stops at its next step. The documents it made stay in the index as any others (delete them with DELETE /v1/documents/{id}, or first attach an empty folder and run once, which removes them all).",
    security,
    middleware: admin,
    responses: { 204: { description: "Detached" }, ...authErrors, ...notFoundError },
  });

  syncRoutes.openapi(detach, async (c) => {
    await chargeRoute(c, "ingest");
    if (!(await c.var.services.bucketSync.detach(c.var.principal.tenant))) throw noSource();
    return c.body(null, 204);
  });

  return syncRoutes;
}
