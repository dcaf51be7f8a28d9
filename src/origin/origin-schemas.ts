import { z } from "zod";

/**
 * What the origin answers, declared once: the client checks every response against these (the
 * origin is another service, not to be trusted blindly), and callers use the inferred types.
 * Each is built on its first parse (z.lazy), not at module load: a cold isolate does not need the
 * ingest result's schema to answer a query, nor any of them to serve a cached answer.
 */

export const EmbedResultSchema = z.lazy(() =>
  z.object({
    vectors: z.array(z.array(z.number())),
    model: z.string().min(1).max(256),
    dimensions: z.number().int().positive(),
  }),
);
export type EmbedResult = z.infer<typeof EmbedResultSchema>;

export const IngestResultSchema = z.lazy(() =>
  z.object({
    model: z.string().min(1).max(256),
    dimensions: z.number().int().positive(),
    documents: z.array(
      z.object({
        id: z.string(),
        chunks: z.array(
          z.object({
            index: z.number().int().nonnegative(),
            text: z.string(),
            start: z.number().int().nonnegative(),
            end: z.number().int().nonnegative(),
            vector: z.array(z.number()),
          }),
        ),
      }),
    ),
  }),
);
export type IngestResult = z.infer<typeof IngestResultSchema>;
export type OriginDocument = IngestResult["documents"][number];

export const GenerateResultSchema = z.lazy(() =>
  z.object({
    answer: z.string(),
    model: z.string(),
    citations: z.array(z.number()),
    usage: z.object({ completion_tokens: z.number() }).optional(),
  }),
);
export type GenerateResult = z.infer<typeof GenerateResultSchema>;
