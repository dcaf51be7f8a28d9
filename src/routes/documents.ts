import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { notFound, StoreUnavailable, serviceUnavailable } from "../errors";
import { CollectionSchema, DocumentIdSchema, IngestRequestSchema } from "../ingest/document-input";
import { deleteDocument, getDocument, listDocuments, prepareDocuments, recordDocumentsStatements } from "../ingest/document-store";
import { markEnqueuedStatement } from "../ingest/job-store";
import { planMessages, sendMessages } from "../ingest/messages";
import { purgeDeletedVectors } from "../ingest/vector-writes";
import { errorFields } from "../logger";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, jsonBody, jsonResponse, notFoundError, quotaErrors, security, validationErrors } from "../schemas";
import { assertIngestQuota, quotaGuardStatements } from "../store/tenant-limits";

export function createDocumentRoutes() {
  const documentRoutes = new OpenAPIHono<AppEnv>();

  const iso = (ms: number) => new Date(ms).toISOString();
  const newJobId = () => `job_${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`;

  // ─── POST /v1/documents ─────────────────────────────────────────────────────────────────────────

  const AcceptedSchema = z
    .object({
      job_id: z.string(),
      accepted: z.number().int().openapi({ description: "Documents accepted (unchanged ones included; the job counts them as skipped)" }),
      status_url: z.string().openapi({ example: "/v1/jobs/job_0123456789abcdef0123456789abcdef" }),
    })
    .openapi("IngestAccepted");

  const ingest = createRoute({
    method: "post",
    path: "/v1/documents",
    operationId: "ingestDocuments",
    summary: "Add or replace documents; they are indexed in the background (poll status_url)",
    description:
      "Documents are stored before this answers 202. Re-sending a document with the same text, metadata and collection is a no-op (counted as skipped); a changed one replaces its previous version once indexed. If the queue cannot take the job, the answer is 503 INGEST_QUEUE_UNAVAILABLE with the job_id: the documents are stored, and the job is queued automatically within about three minutes (or retry the request).",
    security,
    // Rate-limited in the handler: a request costs one token per document.
    middleware: [authenticate({ role: "writer" })],
    request: { body: jsonBody(IngestRequestSchema) },
    responses: {
      202: jsonResponse("Accepted; indexing runs in the background", AcceptedSchema),
      ...validationErrors,
      ...authErrors,
      ...quotaErrors,
    },
  });

  documentRoutes.openapi(ingest, async (c) => {
    const { documents, collection } = c.req.valid("json");
    const { tenant } = c.var.principal;
    const { db, tenantLimits } = c.var.services;
    // Charged by size: n documents cost n tokens of the principal's and the tenant's ingest buckets.
    await chargeRoute(c, "ingest", documents.length);

    // 1. D1 first: once this batch commits, nothing accepted can be lost. A quota it would break
    // refuses it before anything is written.
    const prepared = await prepareDocuments(db, tenant, documents, collection);
    const limits = await tenantLimits.get(tenant);
    await assertIngestQuota(db, tenant, limits, prepared);
    const jobId = newJobId();
    const now = Date.now();
    try {
      await db.batch([...recordDocumentsStatements(db, tenant, prepared, now, { id: jobId }), ...quotaGuardStatements(db, tenant, limits)]);
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
          c.env.INGEST_QUEUE,
          planMessages(
            tenant,
            jobId,
            changed.map((d) => ({ id: d.id, textLength: d.text.length })),
          ),
        );
      } catch (error) {
        c.var.log.error("ingest enqueue failed", { job_id: jobId, tenant, ...errorFields(error) });
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

    c.header("location", statusUrl);
    return c.json({ job_id: jobId, accepted: prepared.length, status_url: statusUrl }, 202);
  });

  // ─── GET /v1/documents ──────────────────────────────────────────────────────────────────────────

  const StoredDocumentSchema = z
    .object({
      id: z.string(),
      collection: z.string(),
      text: z.string(),
      metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
      status: z
        .enum(["queued", "indexed", "failed"])
        .openapi({ description: "queued: a new version waits to be indexed (the previous one, if any, is still searchable)" }),
      chunk_count: z.number().int().openapi({ description: "Chunks of the indexed version" }),
      job_id: z.string().nullable(),
      error: z.string().nullable(),
      created_at: z.string(),
      updated_at: z.string(),
    })
    .openapi("Document");

  const DocumentSummarySchema = StoredDocumentSchema.omit({ text: true }).openapi("DocumentSummary");

  // The cursor is the last listed id, encoded so that clients treat it as opaque.
  const encodeCursor = (id: string) => btoa(id).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  const decodeCursor = (cursor: string) => {
    try {
      return DocumentIdSchema.safeParse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))).data;
    } catch {
      return undefined;
    }
  };

  const ListQuerySchema = z.object({
    collection: CollectionSchema.optional().openapi({ param: { name: "collection", in: "query" }, description: "Only this collection" }),
    status: z
      .enum(["queued", "indexed", "failed"])
      .optional()
      .openapi({ param: { name: "status", in: "query" }, description: "Only documents in this indexing state" }),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(100)
      .default(20)
      .openapi({ param: { name: "limit", in: "query" } }),
    cursor: z
      .string()
      .max(400)
      .refine((cursor) => decodeCursor(cursor) !== undefined, "not a cursor this API returned")
      .optional()
      .openapi({ param: { name: "cursor", in: "query" }, description: "next_cursor of the previous page" }),
  });

  const DocumentListSchema = z
    .object({
      documents: z.array(DocumentSummarySchema),
      next_cursor: z.string().nullable().openapi({ description: "Pass as cursor for the next page; null on the last page" }),
    })
    .openapi("DocumentList");

  const list = createRoute({
    method: "get",
    path: "/v1/documents",
    operationId: "listDocuments",
    summary: "The tenant's documents in id order, without their text, a page at a time",
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "reader" })],
    request: { query: ListQuerySchema },
    responses: { 200: jsonResponse("A page of documents", DocumentListSchema), ...authErrors },
  });

  documentRoutes.openapi(list, async (c) => {
    const { collection, status, limit, cursor } = c.req.valid("query");
    await chargeRoute(c, "query");
    const page = await listDocuments(c.var.services.db, c.var.principal.tenant, {
      collection,
      status,
      limit,
      after: cursor === undefined ? undefined : decodeCursor(cursor),
    });
    return c.json(
      {
        documents: page.documents.map((document) => ({
          ...document,
          created_at: iso(document.created_at),
          updated_at: iso(document.updated_at),
        })),
        next_cursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter),
      },
      200,
    );
  });

  // ─── GET /v1/documents/{id} ─────────────────────────────────────────────────────────────────────

  const IdParamSchema = z.object({ id: DocumentIdSchema.openapi({ param: { name: "id", in: "path" } }) });

  const read = createRoute({
    method: "get",
    path: "/v1/documents/{id}",
    operationId: "getDocument",
    summary: "A stored document, its indexing status and chunk count",
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "reader" })],
    request: { params: IdParamSchema },
    responses: { 200: jsonResponse("The document", StoredDocumentSchema), ...authErrors, ...notFoundError },
  });

  documentRoutes.openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "query");
    // Another tenant's document is indistinguishable from a missing one.
    const document = await getDocument(c.var.services.db, c.var.principal.tenant, id);
    if (!document) throw notFound(`document ${id}`);
    return c.json(
      {
        id: document.id,
        collection: document.collection,
        text: document.text,
        metadata: document.metadata,
        status: document.status,
        chunk_count: document.chunk_count,
        job_id: document.job_id,
        error: document.error,
        created_at: iso(document.created_at),
        updated_at: iso(document.updated_at),
      },
      200,
    );
  });

  // ─── DELETE /v1/documents/{id} ──────────────────────────────────────────────────────────────────

  const remove = createRoute({
    method: "delete",
    path: "/v1/documents/{id}",
    operationId: "deleteDocument",
    summary: "Delete a document, its chunks and its vectors; later queries never return it",
    description:
      "Never retrieved again, nor cited by a last good answer. Answers cached before it stop matching at once here, within INDEX_VERSION_CACHE_SECONDS (5 s) on other instances.",
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "writer" })],
    request: { params: IdParamSchema },
    responses: { 204: { description: "Deleted" }, ...authErrors, ...notFoundError },
  });

  documentRoutes.openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "ingest");
    const { tenant } = c.var.principal;
    const { db, vectors } = c.var.services;
    // D1 decides: chunks and document go in one batch with the index-version bump, and queries
    // only return chunks D1 still has. The vectors follow; a failure there is retried by the sweep.
    if (!(await deleteDocument(db, tenant, id, Date.now()))) throw notFound(`document ${id}`);
    // This isolate's next query reads the bumped index version, so no cached answer citing it matches.
    c.var.services.tenants.forget(tenant);
    await purgeDeletedVectors(db, vectors, { tenant }).catch((error) => {
      c.var.log.warn("vector delete deferred to the sweep", { tenant, ...errorFields(error) });
    });
    return c.body(null, 204);
  });
  return documentRoutes;
}
