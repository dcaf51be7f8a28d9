import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { notFound } from "../errors";
import { documentSchemas } from "../ingest/document-input";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, jsonBody, jsonResponse, notFoundError, quotaErrors, security, validationErrors } from "../schemas";

export function createDocumentRoutes() {
  const documentRoutes = new OpenAPIHono<AppEnv>();
  const { CollectionSchema, DocumentIdSchema, IngestRequestSchema } = documentSchemas();

  const iso = (ms: number) => new Date(ms).toISOString();

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
    const request = c.req.valid("json");
    // Charged by size: n documents cost n tokens of the principal's and the tenant's ingest buckets.
    await chargeRoute(c, "ingest", request.documents.length);
    const { jobId, accepted, statusUrl } = await c.var.services.ingest.accept(c.var.principal.tenant, request, { log: c.var.log });
    c.header("location", statusUrl);
    return c.json({ job_id: jobId, accepted, status_url: statusUrl }, 202);
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
    const page = await c.var.services.tenantData(c.var.principal.tenant).listDocuments({
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
    const document = await c.var.services.tenantData(c.var.principal.tenant).getDocument(id);
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
    if (!(await c.var.services.ingest.remove(c.var.principal.tenant, id, { log: c.var.log }))) throw notFound(`document ${id}`);
    return c.body(null, 204);
  });
  return documentRoutes;
}
