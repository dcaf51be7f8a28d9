import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { ApiError, type FieldError, fieldErrors, notFound, validationFailed } from "../errors";
import {
  DOCUMENT_ID_PATTERN,
  type DocumentMetadata,
  documentIdOf,
  documentSchemas,
  FILE_LIMITS,
  INGEST_LIMITS,
} from "../ingest/document-input";
import type { FileUpload } from "../ingest/ingest-service";
import { type JsonLinesFile, jsonLinesKind, readJsonLines } from "../ingest/json-lines";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import {
  authErrors,
  jsonBody,
  jsonResponse,
  notFoundError,
  pageQuery,
  problemSchema,
  quotaErrors,
  schemaWhenRead,
  security,
  validationErrors,
} from "../schemas";

export function createDocumentRoutes() {
  const documentRoutes = new OpenAPIHono<AppEnv>();
  const { CollectionSchema, DocumentIdSchema, IngestRequestSchema, MetadataSchema } = documentSchemas();

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

  // ─── POST /v1/documents/files ───────────────────────────────────────────────────────────────────

  const FilesAcceptedSchema = AcceptedSchema.extend({
    failed: z
      .array(
        z.object({ document_id: z.string(), error: z.string().openapi({ example: "PDF_ENCRYPTED: the PDF needs a password to open" }) }),
      )
      .openapi({
        description: "Files the parser refused: each fails its document alone (the job lists them too); the others are accepted",
      }),
  }).openapi("FilesAccepted");

  const upload = createRoute({
    method: "post",
    path: "/v1/documents/files",
    operationId: "uploadDocumentFiles",
    summary: "Add or replace documents from files (PDF, HTML, DOCX, Markdown, text, JSON Lines); indexed in the background",
    description:
      `Multipart form data: one or more \`file\` parts (at most ${FILE_LIMITS.maxFiles}, each at most ${FILE_LIMITS.maxFileBytes} bytes, ` +
      `${FILE_LIMITS.maxRequestBytes} bytes in all; 413 beyond), an optional \`collection\` and an optional \`metadata\` (a JSON object: ` +
      "every file's document metadata; its `id`, with one file only, names the document), or one `metadata` per `file` part, in " +
      "order, each that file's own (its `id` names that file's document). A file's document id is its file name, " +
      "with every run of characters an id cannot hold replaced by `-` (so `Q3 report.pdf` is `Q3-report.pdf`). Each file is " +
      "parsed into located text before this answers (a PDF page by page; HTML, DOCX and Markdown by headings), so each chunk, " +
      "and each source citing it, carries its `page` or `section`. The original is kept: GET /v1/documents/{id}/file. A file " +
      "the parser refuses (corrupt, encrypted, a scan with no text layer, not the type it claims, too long…) fails its document " +
      "alone: it is listed in `failed` and in the job's errors as `CODE: detail`; the other files are indexed. If no origin can " +
      "parse, nothing is stored (503). A JSON Lines part (`application/jsonl`, `application/x-ndjson`, or a `.jsonl`/`.ndjson` " +
      'name; gzipped as `.jsonl.gz`) is one document per line, `{"id","text","metadata"}` or BEIR\'s `{"_id","title","text"}` ' +
      "(the file's metadata, or the request's, under each line's own), read by the worker: no original is kept; a bad line fails its document " +
      "alone, listed as `<file>#<line>` with `INVALID_LINE: line n: …`. A request's JSON Lines text, all parts together (a " +
      `gzipped one inflated), is at most ${FILE_LIMITS.maxJsonLinesBytes} bytes, as POST /v1/documents takes (413 beyond); a ` +
      "gzipped file that inflates past that fails whole (ARCHIVE_TOO_LARGE). A request holds at most " +
      `${INGEST_LIMITS.maxDocuments} documents, a line counting as one (413 beyond), and costs one ingest token per document.`,
    security,
    // Rate-limited in the handler: a request costs one token per file.
    middleware: [authenticate({ role: "writer" })],
    request: {
      body: {
        required: true,
        content: {
          "multipart/form-data": {
            schema: {
              type: "object",
              required: ["file"],
              properties: {
                file: {
                  type: "array",
                  items: { type: "string", format: "binary" },
                  description: "The files, one part each, with their file name and Content-Type",
                },
                collection: { type: "string", pattern: "^[a-z0-9][a-z0-9_-]{0,63}$" },
                metadata: {
                  type: "array",
                  items: { type: "string" },
                  description:
                    'A JSON object, e.g. {"lang": "en"} (and {"id": "…"} with one file), given once for every file; or given once per file part, in order, each that file\'s own (each may name its document: {"id": "…", "path": "…"})',
                },
              },
            },
          },
        },
      },
    },
    responses: {
      202: jsonResponse("Accepted; indexing runs in the background", FilesAcceptedSchema),
      ...validationErrors,
      ...authErrors,
      ...quotaErrors,
      413: { description: "A file, or the request, is too large", content: { "application/problem+json": schemaWhenRead(problemSchema) } },
      415: { description: "The body is not multipart/form-data", content: { "application/problem+json": schemaWhenRead(problemSchema) } },
    },
  });

  documentRoutes.openapi(upload, async (c) => {
    const form = await readForm(c.req.raw);
    const { files, collection, metadata } = filesRequest(form);
    const { parsed, jsonLines } = await splitJsonLines(files, metadata);
    // One token per document, as POST /v1/documents charges: a JSON Lines file costs one per line.
    await chargeRoute(c, "ingest", documentCount(parsed, jsonLines));
    const accepted = await c.var.services.ingest.acceptFiles(
      c.var.principal.tenant,
      { files: parsed, jsonLines, collection, metadata },
      { log: c.var.log },
    );
    c.header("location", accepted.statusUrl);
    return c.json({ job_id: accepted.jobId, accepted: accepted.accepted, failed: accepted.failed, status_url: accepted.statusUrl }, 202);
  });

  const documentCount = (parsed: FileUpload[], jsonLines: JsonLinesFile[]) =>
    parsed.length + jsonLines.reduce((sum, file) => sum + (file.failed ? 1 : file.lines.length), 0);

  /**
   * The JSON Lines parts read into their lines' documents (json-lines.ts; the worker reads them, the
   * origin parses the rest). A line whose id another document of the request has fails alone; more
   * documents than POST /v1/documents takes in one request is a 413.
   */
  async function splitJsonLines(files: FileUpload[], metadata: DocumentMetadata) {
    const parsed: FileUpload[] = [];
    const jsonLines: JsonLinesFile[] = [];
    let text = 0;
    for (const file of files) {
      const kind = jsonLinesKind(file);
      if (!kind) {
        parsed.push(file);
        continue;
      }
      const read = await readJsonLines(file, kind, file.metadata ?? metadata);
      text += read.bytes;
      if (text > FILE_LIMITS.maxJsonLinesBytes)
        throw new ApiError(
          "PAYLOAD_TOO_LARGE",
          `the request's JSON Lines files hold more than ${FILE_LIMITS.maxJsonLinesBytes} bytes of text (as POST /v1/documents takes): send them in several requests`,
        );
      jsonLines.push(read);
    }
    // Every id the job lists once: the files', and a JSON Lines file's own when it failed whole.
    const seen = new Map<string, string>([
      ...parsed.map((file): [string, string] => [file.id, file.filename]),
      ...jsonLines.flatMap((file): Array<[string, string]> => (file.failed ? [[file.id, file.id]] : [])),
    ]);
    for (const file of jsonLines)
      file.lines = file.lines.map((entry) => {
        const id = "document" in entry ? entry.document.id : undefined;
        if (id === undefined) return entry;
        const first = seen.get(id);
        if (first === undefined) {
          seen.set(id, `${file.id}, line ${entry.line}`);
          return entry;
        }
        const error = `INVALID_LINE: line ${entry.line}: the document ${id} is also ${first} of this request`;
        return { line: entry.line, failed: { id: `${file.id}#${entry.line}`, error } };
      });
    const empty = jsonLines.filter((file) => !file.failed && file.lines.length === 0);
    if (empty.length > 0) throw validationFailed(empty.map((file) => ({ path: "file", message: `${file.id} has no lines` })));
    const count = documentCount(parsed, jsonLines);
    if (count > INGEST_LIMITS.maxDocuments)
      throw new ApiError(
        "PAYLOAD_TOO_LARGE",
        `the request holds ${count} documents (JSON Lines files count one per line); at most ${INGEST_LIMITS.maxDocuments} are allowed: send them in several requests`,
      );
    return { parsed, jsonLines };
  }

  /** The request's parts; 415 when it is not multipart, 400 when it does not parse. */
  async function readForm(request: Request): Promise<FormData> {
    if (!/^multipart\/form-data\s*;/i.test(request.headers.get("content-type") ?? ""))
      throw new ApiError("UNSUPPORTED_MEDIA_TYPE", "send the files as multipart/form-data");
    try {
      return await request.formData();
    } catch (error) {
      // The body limit's own error, met while the parser read the body.
      if (error instanceof ApiError) throw error;
      throw new ApiError("MALFORMED_REQUEST", "the multipart body could not be parsed");
    }
  }

  /** The files, collection and metadata of the form, every problem named in one 400 (or a 413 for a file too large). */
  function filesRequest(form: FormData): { files: FileUpload[]; collection?: string; metadata: DocumentMetadata } {
    const issues: FieldError[] = [];
    const fields = { file: form.getAll("file"), collection: form.getAll("collection"), metadata: form.getAll("metadata") };
    for (const name of new Set(form.keys()))
      if (!(name in fields)) issues.push({ path: name, message: "unknown field (expected file, collection, metadata)" });

    const parts = fields.file.filter((part): part is File => typeof part !== "string");
    if (parts.length !== fields.file.length) issues.push({ path: "file", message: "must be a file part (with a file name)" });
    if (fields.file.length === 0) issues.push({ path: "file", message: "at least one file is required" });
    if (fields.file.length > FILE_LIMITS.maxFiles)
      issues.push({ path: "file", message: `at most ${FILE_LIMITS.maxFiles} files per request` });
    for (const part of parts) {
      if (part.size > FILE_LIMITS.maxFileBytes)
        throw new ApiError(
          "PAYLOAD_TOO_LARGE",
          `the file ${part.name} is ${part.size} bytes; a file may have at most ${FILE_LIMITS.maxFileBytes}`,
        );
      if (part.size === 0) issues.push({ path: "file", message: `${part.name} is empty` });
    }

    let collection: string | undefined;
    if (fields.collection.length > 1) issues.push({ path: "collection", message: "give it once" });
    else if (fields.collection.length === 1) {
      const parsed = CollectionSchema.safeParse(fields.collection[0]);
      if (parsed.success) collection = parsed.data;
      else issues.push({ path: "collection", message: "must match [a-z0-9][a-z0-9_-]{0,63}" });
    }

    // One `metadata` is every file's; one per file part (more than one) is each file's own, in order.
    const perFile = fields.metadata.length > 1;
    if (perFile && fields.metadata.length !== fields.file.length)
      issues.push({
        path: "metadata",
        message: `give it once (every file's) or once per file, in order (${fields.file.length}), not ${fields.metadata.length} times`,
      });
    const metadataOf = (raw: string | File, path: string, part: File | undefined) => {
      const parsed = MetadataSchema.safeParse(jsonOrUndefined(raw));
      if (!parsed.success) {
        issues.push(...fieldErrors(parsed.error.issues, [path]));
        return { metadata: {} };
      }
      const { id, ...metadata } = parsed.data;
      if (id === undefined) return { metadata };
      if (typeof id !== "string" || !DOCUMENT_ID_PATTERN.test(id))
        issues.push({ path: `${path}.id`, message: "must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}" });
      else if (!perFile && fields.file.length > 1)
        issues.push({ path: `${path}.id`, message: "names one document: send one file with it, or one metadata per file" });
      else if (part && jsonLinesKind({ filename: part.name, contentType: part.type }))
        issues.push({ path: `${path}.id`, message: "names one document: a JSON Lines file's documents are named by their lines" });
      else return { metadata, id };
      return { metadata };
    };
    const shared = fields.metadata.length === 1 ? metadataOf(fields.metadata[0]!, "metadata", parts[0]) : { metadata: {} };
    const own =
      perFile && fields.metadata.length === fields.file.length
        ? fields.metadata.map((raw, i) => metadataOf(raw, `metadata.${i}`, parts[i]))
        : undefined;

    const seen = new Set<string>();
    const files = parts.map((part, i): FileUpload => {
      const named = own ? own[i]! : shared;
      const id = named.id ?? documentIdOf(part.name);
      if (id === null) issues.push({ path: "file", message: `${part.name} makes no document id: name one with metadata.id` });
      else if (seen.has(id)) issues.push({ path: "file", message: `${part.name} is the document ${id} again` });
      else seen.add(id);
      const file = { id: id ?? "", filename: part.name, contentType: part.type || "application/octet-stream", body: part };
      return own ? { ...file, metadata: named.metadata } : file;
    });
    if (issues.length > 0) throw validationFailed(issues);
    return { files, collection, metadata: shared.metadata };
  }

  // ─── POST /v1/documents/reindex ─────────────────────────────────────────────────────────────────

  const ReindexRequestSchema = z
    .strictObject({
      collection: CollectionSchema.optional().openapi({ description: "Only this collection's documents (default: every document)" }),
      ids: z
        .array(DocumentIdSchema)
        .min(1)
        .max(REINDEX_PAGE)
        .optional()
        .openapi({ description: `These documents only (at most ${REINDEX_PAGE}); not with collection or cursor` }),
      cursor: z
        .string()
        .max(400)
        // decodeCursor (GET /v1/documents below) runs only once requests come.
        .refine((cursor) => decodeCursor(cursor) !== undefined, "not a cursor this API returned")
        .optional()
        .openapi({ description: "next_cursor of the previous page" }),
      limit: z
        .number()
        .int()
        .min(1)
        .max(REINDEX_PAGE)
        .default(REINDEX_PAGE)
        .openapi({ description: `Documents in this page (at most ${REINDEX_PAGE})` }),
    })
    .superRefine((body, ctx) => {
      if (body.ids !== undefined && (body.collection !== undefined || body.cursor !== undefined))
        ctx.addIssue({ code: "custom", path: ["ids"], message: "names the documents: send it without collection and cursor" });
    })
    .openapi("ReindexRequest");

  const ReindexAcceptedSchema = FilesAcceptedSchema.extend({
    failed: FilesAcceptedSchema.shape.failed.openapi({
      description:
        "Documents not re-indexed, each with its error (its indexed version is kept): an original the parser now refuses, a missing original (ORIGINAL_MISSING), an id the tenant does not have (NOT_FOUND)",
    }),
    next_cursor: z.string().nullable().openapi({ description: "Pass as cursor to re-index the next page; null on the last page" }),
  }).openapi("ReindexAccepted");

  const reindex = createRoute({
    method: "post",
    path: "/v1/documents/reindex",
    operationId: "reindexDocuments",
    summary: "Index stored documents again, from their originals, with no new upload (after a model or chunking change)",
    description:
      `One page of at most ${REINDEX_PAGE} documents in id order (the named \`ids\`, or the collection's, or every document; ` +
      "`next_cursor` names the next page). Each document made from a file is parsed again from its original " +
      "(GET /v1/documents/{id}/file) through the origin, each sent as text is taken from its stored text; every one is " +
      "re-chunked and re-embedded under a new revision, even when nothing changed, and its current chunks answer queries " +
      "until the new ones commit. The job lists each document's outcome. Its metadata and collection stay as stored. If no " +
      "origin can parse a file of the page, nothing changes (503). Costs one ingest token per document the page may hold (`limit`, or the ids).",
    security,
    // Rate-limited in the handler: a page costs one token per document it may hold.
    middleware: [authenticate({ role: "admin" })],
    request: { body: jsonBody(ReindexRequestSchema) },
    responses: {
      202: jsonResponse("Accepted; indexing runs in the background", ReindexAcceptedSchema),
      ...validationErrors,
      ...authErrors,
      ...quotaErrors,
    },
  });

  documentRoutes.openapi(reindex, async (c) => {
    const { collection, ids, cursor, limit } = c.req.valid("json");
    const size = ids?.length ?? limit;
    await chargeRoute(c, "ingest", size);
    const accepted = await c.var.services.ingest.reindex(
      c.var.principal.tenant,
      { collection, ids, after: cursor === undefined ? undefined : decodeCursor(cursor), limit: size },
      { log: c.var.log },
    );
    c.header("location", accepted.statusUrl);
    return c.json(
      {
        job_id: accepted.jobId,
        accepted: accepted.accepted,
        failed: accepted.failed,
        status_url: accepted.statusUrl,
        next_cursor: accepted.nextAfter === null ? null : encodeCursor(accepted.nextAfter),
      },
      202,
    );
  });

  // ─── GET /v1/documents/{id}/file ────────────────────────────────────────────────────────────────

  const IdParamSchema = z.object({ id: DocumentIdSchema.openapi({ param: { name: "id", in: "path" } }) });

  const download = createRoute({
    method: "get",
    path: "/v1/documents/{id}/file",
    operationId: "getDocumentFile",
    summary: "The original file of a document uploaded as a file (or synced from a bucket), with its content type",
    description:
      "Served as an attachment (Content-Disposition), never rendered by a browser on this origin. For a document that bucket " +
      "sync made, the copy of the object that was indexed. 404 for a document that was not made from a file, or that the " +
      "tenant does not have.",
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "reader" })],
    request: { params: IdParamSchema },
    responses: {
      200: { description: "The original bytes", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
      ...authErrors,
      ...notFoundError,
    },
  });

  documentRoutes.openapi(download, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "query");
    // Another tenant's document is indistinguishable from a missing one.
    const file = await c.var.services.ingest.original(c.var.principal.tenant, id);
    if (!file) throw notFound(`the original file of document ${id}`);
    return c.body(file.body, 200, {
      "content-type": file.contentType,
      "content-length": String(file.size),
      // Uploaded HTML must never run on the API's origin (where the console keeps its key).
      "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(file.filename)}`,
      "content-security-policy": "default-src 'none'; sandbox",
      "x-content-type-options": "nosniff",
    });
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
    ...pageQuery(decodeCursor, 400),
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

// Where the upload route (and bucket sync) make a file's document id; re-exported for the tests that import it from here.
export { documentIdOf };

/** Documents one re-index request rebuilds at most (each may be a parse at the origin, within one request). */
const REINDEX_PAGE = 100;

const jsonOrUndefined = (text: string | File | undefined): unknown => {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
