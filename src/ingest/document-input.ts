import { z } from "@hono/zod-openapi";

/**
 * What a client may send as a document, declared once: POST /v1/documents validates with these
 * schemas and `services.ingest.indexNow` relies on the same rules. Metadata is flat (string | number |
 * boolean) because it becomes Vectorize metadata next to `document_id` and `collection`, where
 * filters can be pushed down.
 */
export const INGEST_LIMITS = {
  maxDocuments: 1000,
  maxTextChars: 1_000_000,
  /**
   * D1 stores at most 2,000,000 bytes per row (text + metadata + the rest); 1,000,000 characters
   * of non-Latin text can be 3 MB of UTF-8, so bytes are capped too.
   */
  maxTextBytes: 1_900_000,
  maxMetadataKeys: 32,
  maxMetadataStringChars: 1024,
  maxMetadataJsonBytes: 8 * 1024,
} as const;

/**
 * POST /v1/documents/files. The request is read whole into memory (multipart), and each file goes
 * to the origin and the files bucket from there: the request limit keeps an isolate (128 MB) well
 * clear of its memory limit; a file is at most half of the origin's own PARSE_MAX_BYTES (50 MiB).
 */
export const FILE_LIMITS = {
  maxFiles: 20,
  maxFileBytes: 25 * 1024 * 1024,
  maxRequestBytes: 32 * 1024 * 1024,
  /**
   * JSON Lines text in one request, all its JSON Lines parts together (a gzipped one as inflated):
   * what POST /v1/documents takes as a body, since its lines become documents as that route's do,
   * all sent to the tenant's object in one accept.
   */
  maxJsonLinesBytes: 10 * 1024 * 1024,
} as const;

export const DOCUMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const COLLECTION_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const METADATA_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Keys the vector metadata sets itself; a document may not override them. */
export const RESERVED_METADATA_KEYS = ["document_id", "collection"] as const;
export const DEFAULT_COLLECTION = "default";

/**
 * A file's document id: its name (without any folder), each run of characters an id cannot hold
 * replaced by "-", leading ones dropped, at most 128 characters; null when nothing is left.
 */
export function documentIdOf(filename: string): string | null {
  const id = (filename.split(/[\\/]/).pop() ?? "")
    .replace(/[^A-Za-z0-9_.:-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 128);
  return DOCUMENT_ID_PATTERN.test(id) ? id : null;
}

export type MetadataValue = string | number | boolean;
export type DocumentMetadata = Record<string, MetadataValue>;

/** A document's title: `metadata.title` when it is a string (keyword ranking weighs it, sources are headed by it), else "". */
export const documentTitle = (metadata: Readonly<Record<string, unknown>>): string =>
  typeof metadata.title === "string" ? metadata.title : "";

const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/**
 * The documents' schemas, built on first use (a documents request, ingestion, /openapi.json), not at
 * module load: a new isolate's startup builds no schema (worker.ts).
 */
let built: ReturnType<typeof build> | undefined;
export const documentSchemas = () => (built ??= build());

function build() {
  const DocumentIdSchema = z
    .string()
    .regex(DOCUMENT_ID_PATTERN, "must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
    .openapi({ example: "handbook-7" });

  const CollectionSchema = z
    .string()
    .regex(COLLECTION_PATTERN, "must match [a-z0-9][a-z0-9_-]{0,63}")
    .openapi({ example: DEFAULT_COLLECTION });

  const MetadataValueSchema = z.union([z.string().max(INGEST_LIMITS.maxMetadataStringChars), z.number(), z.boolean()]);

  const MetadataSchema = z
    .unknown()
    // Checked by hand rather than with z.record so that keys like `__proto__` are rejected by name
    // instead of being assigned onto a fresh object (where they would change its prototype).
    .superRefine((value, ctx) => {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        ctx.addIssue({ code: "custom", message: "must be an object of string, number or boolean values" });
        return;
      }
      const keys = Object.keys(value);
      if (keys.length > INGEST_LIMITS.maxMetadataKeys) {
        ctx.addIssue({ code: "custom", message: `has ${keys.length} keys; at most ${INGEST_LIMITS.maxMetadataKeys} are allowed` });
      }
      for (const key of keys) {
        if (!METADATA_KEY_PATTERN.test(key)) {
          ctx.addIssue({ code: "custom", path: [key], message: "keys must match [A-Za-z_][A-Za-z0-9_]{0,63}" });
        } else if ((RESERVED_METADATA_KEYS as readonly string[]).includes(key) || key === "__proto__") {
          ctx.addIssue({ code: "custom", path: [key], message: `\`${key}\` is reserved` });
        }
        const result = MetadataValueSchema.safeParse((value as Record<string, unknown>)[key]);
        if (!result.success) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `values must be strings (≤ ${INGEST_LIMITS.maxMetadataStringChars} characters), numbers or booleans`,
          });
        }
      }
      const bytes = utf8Bytes(JSON.stringify(value));
      if (bytes > INGEST_LIMITS.maxMetadataJsonBytes) {
        ctx.addIssue({ code: "custom", message: `is ${bytes} bytes as JSON; at most ${INGEST_LIMITS.maxMetadataJsonBytes} are allowed` });
      }
    })
    .transform((value) => value as DocumentMetadata)
    .openapi({
      type: "object",
      additionalProperties: { oneOf: [{ type: "string" }, { type: "number" }, { type: "boolean" }] },
      description:
        "Filterable attributes (see `filters`). A string `title` is also searched: keyword ranking weighs it as its own field of every chunk of the document.",
      example: { title: "Employee handbook", lang: "en", year: 2024 },
    });

  const DocumentTextSchema = z
    .string()
    .min(1)
    .max(INGEST_LIMITS.maxTextChars)
    .superRefine((text, ctx) => {
      if (text.trim().length === 0) ctx.addIssue({ code: "custom", message: "must contain more than whitespace" });
      // NUL cuts strings short in SQLite functions and FTS5; no real text needs it.
      if (text.includes("\u0000")) ctx.addIssue({ code: "custom", message: "must not contain NUL characters" });
      // A UTF-16 unit is at most 3 bytes of UTF-8, so most texts skip the encode.
      if (text.length * 3 > INGEST_LIMITS.maxTextBytes && utf8Bytes(text) > INGEST_LIMITS.maxTextBytes) {
        ctx.addIssue({ code: "custom", message: `is more than ${INGEST_LIMITS.maxTextBytes} bytes of UTF-8` });
      }
    });

  const DocumentInputSchema = z
    .strictObject({
      id: DocumentIdSchema.optional().openapi({ description: "Generated when absent. Re-sending an id replaces that document." }),
      text: DocumentTextSchema,
      metadata: MetadataSchema.optional(),
    })
    .openapi("DocumentInput");

  const IngestRequestSchema = z
    .strictObject({
      documents: z.array(DocumentInputSchema).min(1).max(INGEST_LIMITS.maxDocuments),
      collection: CollectionSchema.optional(),
    })
    .superRefine((body, ctx) => {
      const seen = new Map<string, number>();
      body.documents.forEach((document, index) => {
        if (document.id === undefined) return;
        const first = seen.get(document.id);
        if (first === undefined) seen.set(document.id, index);
        else
          ctx.addIssue({ code: "custom", path: ["documents", index, "id"], message: `duplicates documents.${first}.id (${document.id})` });
      });
    })
    .openapi("IngestRequest");
  return { DocumentIdSchema, CollectionSchema, MetadataSchema, DocumentTextSchema, DocumentInputSchema, IngestRequestSchema };
}

type Schemas = ReturnType<typeof build>;
export type DocumentInput = z.infer<Schemas["DocumentInputSchema"]>;
export type IngestRequest = z.infer<Schemas["IngestRequestSchema"]>;
