import { z } from "zod";

/**
 * The worker ↔ origin HTTP contract, declared once for both sides: the origin (container/) validates
 * each request with these and its tests check its responses against them; the worker's origin
 * client checks every response with them (the origin is another service, not to be trusted
 * blindly). Types are inferred from them. Request objects are strict: an unknown field is a 400, so
 * a typo never passes silently.
 *
 * This folder (src/shared/) is what both packages compile, and the origin's image copies it
 * (container/Dockerfile): its modules import each other and only packages that both package.json
 * files depend on (zod; stemmer and stopword for the extractive answer).
 *
 * Every schema is built on its first parse (z.lazy), not at module load: a cold worker isolate does
 * not need the ingest answer's schema to answer a query, nor any of them to serve a cached answer.
 */

/** The worker's own limit on a document (INGEST_LIMITS.maxTextChars): about 0.5 s of chunking at most. */
export const MAX_DOCUMENT_CHARS = 1_000_000;
/** The most blocks one document is made of (a PDF's pages, an HTML page's sections). */
export const MAX_BLOCKS = 20_000;
/** A heading longer than this is cut (by the origin's parsers) before it goes into a section path. */
export const MAX_HEADING_CHARS = 512;
/** h1 to h6, with room for formats that nest deeper. */
const MAX_SECTION_DEPTH = 16;

/** The formats POST /v1/parse reads. */
export const PARSE_FORMATS = ["pdf", "html", "docx", "markdown", "text"] as const;

/**
 * What a document made of located blocks stands for as one text: its blocks' texts joined with a
 * blank line. The chunks' `start`/`end` of such a document are offsets in this text, so the worker
 * stores it as the document's text.
 */
export const BLOCK_SEPARATOR = "\n\n";
export const textOfBlocks = (blocks: ReadonlyArray<{ text: string }>): string => blocks.map((b) => b.text).join(BLOCK_SEPARATOR);

/**
 * The codes of POST /v1/parse's refusals of a file itself (the origin's README, "Parsing"): the
 * worker records `code: detail` as that document's error in its job. Anything else the origin
 * answers (OVERLOADED, a token refused, an outage) is not the file's fault.
 */
export const FILE_REFUSAL_CODES = [
  "VALIDATION_FAILED",
  "PAYLOAD_TOO_LARGE",
  "PDF_TOO_MANY_PAGES",
  "ARCHIVE_TOO_LARGE",
  "PDF_EXPANDS_TOO_FAR",
  "PDF_TOO_COMPLEX",
  "DOCUMENT_TOO_LONG",
  "UNSUPPORTED_MEDIA_TYPE",
  "FILE_TYPE_MISMATCH",
  "FILE_CORRUPT",
  "PDF_ENCRYPTED",
  "PDF_NO_TEXT_LAYER",
  "NO_TEXT",
] as const;
export type FileRefusalCode = (typeof FILE_REFUSAL_CODES)[number];

/** The most texts one rerank call carries: the worker's MAX_RERANK_CANDIDATES. */
export const MAX_RERANK_TEXTS = 100;

const id = () => z.string().min(1).max(512);
const model = () => z.string().min(1).max(256);
const vector = () => z.array(z.number());
/** Where a text came from: `page` (1-based) in a PDF, `section` (the heading path, from the top) elsewhere. */
const location = () => ({
  page: z.int().min(1).optional(),
  section: z.array(z.string().min(1).max(MAX_HEADING_CHARS)).min(1).max(MAX_SECTION_DEPTH).optional(),
});
const chunk = () => ({
  index: z.int().nonnegative(),
  text: z.string(),
  start: z.int().nonnegative(),
  end: z.int().nonnegative(),
  ...location(),
});
const block = () => z.strictObject({ text: z.string().min(1).max(MAX_DOCUMENT_CHARS), ...location() });

// ── Requests (the origin validates them) ────────────────────────────────────────────────────────

export const EmbedRequestSchema = z.lazy(() =>
  z.strictObject({
    inputs: z.array(z.string().min(1).max(8192)).min(1).max(256),
    kind: z.enum(["query", "passage"]),
  }),
);

/** POST /v1/rerank: Text Embeddings Inference's /rerank request, passed through to it. */
export const RerankRequestSchema = z.lazy(() =>
  z.strictObject({
    query: z.string().min(1).max(8192),
    texts: z.array(z.string().max(65_536)).min(1).max(MAX_RERANK_TEXTS),
    raw_scores: z.boolean().optional(),
    return_text: z.boolean().optional(),
    truncate: z.boolean().optional(),
    truncation_direction: z.enum(["left", "right", "Left", "Right"]).optional(),
  }),
);

/**
 * POST /v1/chunk and /v1/ingest. A document is its `text`, or its located `blocks` (what
 * /v1/parse answers): then every chunk lies within one block's location, carries it, and its
 * offsets are in textOfBlocks(blocks).
 */
export const ChunkRequestSchema = z.lazy(() =>
  z.strictObject({
    documents: z
      .array(
        z.union(
          [
            z.strictObject({ id: id(), text: z.string().min(1).max(MAX_DOCUMENT_CHARS) }),
            z.strictObject({
              id: id(),
              blocks: z
                .array(block())
                .min(1)
                .max(MAX_BLOCKS)
                .refine(
                  (blocks) => textOfBlocks(blocks).length <= MAX_DOCUMENT_CHARS,
                  `must hold at most ${MAX_DOCUMENT_CHARS} characters in all`,
                ),
            }),
          ],
          { error: "needs either `text` or `blocks`, not both" },
        ),
      )
      .min(1)
      .max(100),
    chunk_size: z.int().min(16).max(8192).optional(),
    chunk_overlap: z.int().min(0).max(4096).optional(),
  }),
);

/** The answer's length in tokens: the origin's default, and the most any request may ask (the chat route holds to it too). */
export const DEFAULT_ANSWER_TOKENS = 512;
export const MAX_ANSWER_TOKENS = 8192;
/** OpenAI's range for the sampling temperature; without one, the LLM answers at its adapter's default. */
export const MIN_TEMPERATURE = 0;
export const MAX_TEMPERATURE = 2;

export const GenerateRequestSchema = z.lazy(() =>
  z.strictObject({
    query: z.string().min(1).max(8192),
    contexts: z.array(z.strictObject({ id: id(), text: z.string().min(1).max(100_000) })).max(50),
    stream: z.boolean().optional().default(false),
    max_tokens: z.int().min(1).max(MAX_ANSWER_TOKENS).optional().default(DEFAULT_ANSWER_TOKENS),
    temperature: z.number().min(MIN_TEMPERATURE).max(MAX_TEMPERATURE).optional(),
  }),
);

/** POST /v1/condense: the last user message and the turns before it (oldest first), for a standalone question. */
export const CondenseRequestSchema = z.lazy(() =>
  z.strictObject({
    history: z
      .array(z.strictObject({ role: z.enum(["user", "assistant"]), content: z.string().max(100_000) }))
      .min(1)
      .max(64),
    question: z.string().min(1).max(8192),
  }),
);

// ── Responses (the worker checks them) ──────────────────────────────────────────────────────────

export const EmbedResponseSchema = z.lazy(() => z.object({ vectors: z.array(vector()), model: model(), dimensions: z.int().positive() }));

export const ChunkResponseSchema = z.lazy(() =>
  z.object({ documents: z.array(z.object({ id: id(), chunks: z.array(z.object(chunk())) })) }),
);

export const IngestResponseSchema = z.lazy(() =>
  z.object({
    model: model(),
    dimensions: z.int().positive(),
    documents: z.array(z.object({ id: id(), chunks: z.array(z.object({ ...chunk(), vector: vector() })) })),
  }),
);

/** The payload of a streamed generation's final `done` event: the answer without its text. */
export const GenerateDoneSchema = z.lazy(() =>
  z.object({
    model: z.string(),
    citations: z.array(z.int().min(1)),
    usage: z.object({ completion_tokens: z.int() }).optional(),
    /** "length" when the answer was cut at max_tokens, "stop" when it ended by itself; absent when the generator did not say. */
    finish_reason: z.enum(["stop", "length"]).optional(),
  }),
);

export const GenerateResponseSchema = z.lazy(() => z.object({ answer: z.string(), ...GenerateDoneSchema.unwrap().shape }));

/**
 * POST /v1/parse's answer: the file's text in blocks, in reading order, each with where it came
 * from (a PDF's page; the heading path elsewhere, absent before the first heading). `title` is the
 * file's own (PDF and DOCX metadata, HTML's title, Markdown's front matter or first # heading), or null.
 */
export const ParseResponseSchema = z.lazy(() =>
  z.object({
    format: z.enum(PARSE_FORMATS),
    title: z.string().min(1).max(MAX_HEADING_CHARS).nullable(),
    blocks: z.array(block()).min(1).max(MAX_BLOCKS),
  }),
);

/** The standalone question, and how it was made: `llm` (the condense prompt) or `rules` / `none` (condense-question.ts). */
export const CondenseResponseSchema = z.lazy(() =>
  z.object({ question: z.string().min(1).max(8192), method: z.enum(["none", "rules", "llm"]), model: z.string().optional() }),
);

/** TEI's /rerank answer: one entry per text, best first. */
export const RerankResponseSchema = z.lazy(() =>
  z.array(z.object({ index: z.int().nonnegative(), score: z.number(), text: z.string().optional() })),
);

export type EmbedRequest = z.infer<typeof EmbedRequestSchema>;
export type ChunkRequest = z.infer<typeof ChunkRequestSchema>;
export type GenerateRequest = z.output<typeof GenerateRequestSchema>;
/** What a client sends (stream and max_tokens have defaults; temperature is the generator's when absent). */
export type GenerateInput = z.input<typeof GenerateRequestSchema>;
export type EmbedResponse = z.infer<typeof EmbedResponseSchema>;
export type IngestResponse = z.infer<typeof IngestResponseSchema>;
export type OriginDocument = IngestResponse["documents"][number];
export type GenerateResponse = z.infer<typeof GenerateResponseSchema>;
export type CondenseRequest = z.infer<typeof CondenseRequestSchema>;
export type CondenseResponse = z.infer<typeof CondenseResponseSchema>;
export type ParseFormat = (typeof PARSE_FORMATS)[number];
export type ParseResponse = z.infer<typeof ParseResponseSchema>;
/** A text with where it came from, as /v1/parse answers it and /v1/chunk takes it. */
export type LocatedBlock = ParseResponse["blocks"][number];
export type ChunkResponse = z.infer<typeof ChunkResponseSchema>;
