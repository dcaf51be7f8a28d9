import { z } from "zod";

/**
 * Request and response bodies of the origin's HTTP contract with the worker, declared once: the routes
 * validate with them, the types come from them, and the tests check responses against them.
 * Request objects are strict: an unknown field is a 400, so a typo never passes silently.
 */
const id = z.string().min(1).max(512);
/** The worker's own limit on a document (INGEST_LIMITS.maxTextChars): about 0.5 s of chunking at most. */
const MAX_DOCUMENT_CHARS = 1_000_000;
const document = z.strictObject({ id, text: z.string().min(1).max(MAX_DOCUMENT_CHARS) });

export const embedRequest = z.strictObject({
  inputs: z.array(z.string().min(1).max(8192)).min(1).max(256),
  kind: z.enum(["query", "passage"]),
});

/** The most texts one rerank call carries: the worker's MAX_RERANK_CANDIDATES. */
export const MAX_RERANK_TEXTS = 100;

/** POST /v1/rerank: Text Embeddings Inference's /rerank request, passed through to it. */
export const rerankRequest = z.strictObject({
  query: z.string().min(1).max(8192),
  texts: z.array(z.string().max(65_536)).min(1).max(MAX_RERANK_TEXTS),
  raw_scores: z.boolean().optional(),
  return_text: z.boolean().optional(),
  truncate: z.boolean().optional(),
  truncation_direction: z.enum(["left", "right", "Left", "Right"]).optional(),
});

/** TEI's /rerank answer: one entry per text, best first. */
export const rerankResponse = z.array(z.object({ index: z.number().int().nonnegative(), score: z.number(), text: z.string().optional() }));

export const chunkRequest = z.strictObject({
  documents: z.array(document).min(1).max(100),
  chunk_size: z.int().min(16).max(8192).optional(),
  chunk_overlap: z.int().min(0).max(4096).optional(),
});

export const generateRequest = z.strictObject({
  query: z.string().min(1).max(8192),
  contexts: z.array(z.strictObject({ id, text: z.string().min(1).max(100_000) })).max(50),
  stream: z.boolean().optional().default(false),
  max_tokens: z.int().min(1).max(8192).optional().default(512),
});

const vector = z.array(z.number());
const chunk = z.object({ index: z.int(), text: z.string(), start: z.int(), end: z.int() });
const usage = z.object({ completion_tokens: z.int() });

export const embedResponse = z.object({ vectors: z.array(vector), model: z.string(), dimensions: z.int() });
export const chunkResponse = z.object({ documents: z.array(z.object({ id, chunks: z.array(chunk) })) });
export const ingestResponse = z.object({
  model: z.string(),
  dimensions: z.int(),
  documents: z.array(z.object({ id, chunks: z.array(chunk.extend({ vector })) })),
});
export const generateResponse = z.object({
  answer: z.string(),
  model: z.string(),
  citations: z.array(z.int().min(1)),
  usage,
});
/** Payload of the final `done` event of a streamed generation. */
export const generateDone = generateResponse.omit({ answer: true });

export type EmbedRequest = z.infer<typeof embedRequest>;
export type ChunkRequest = z.infer<typeof chunkRequest>;
export type GenerateRequest = z.infer<typeof generateRequest>;
export type GenerateResponse = z.infer<typeof generateResponse>;
