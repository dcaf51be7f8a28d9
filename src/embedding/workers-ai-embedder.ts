import { z } from "@hono/zod-openapi";
import { type Config, ConfigError } from "../config";
import { EmbeddingBackendUnavailable, type EmbeddingOutcome, type FallbackEmbedder } from "./query-embedder";
import { WORKERS_AI_EMBEDDING_DIMENSIONS, WORKERS_AI_EMBEDDING_MODELS } from "./workers-ai-models";

/**
 * Adapter: query embeddings on Workers AI (the `AI` binding), the production fallback for when no
 * origin can embed a query.
 *
 * Wire format, as Cloudflare documents it for @cf/baai/bge-base-en-v1.5 (and bge-small/large):
 * `run(model, { text: string[] (1–100 items), pooling? })` → `{ shape: [n, width], data:
 * number[][], pooling? }`. It asks for `pooling: "cls"`: TEI pools bge models by their CLS token
 * (the model's own configuration), while Workers AI defaults to mean pooling for compatibility,
 * and the two kinds of vector are not comparable. Vectors are L2-normalised, as the origin
 * normalises TEI's, so that they sit with the indexed ones under any metric.
 *
 * Promise: one outcome per query, `backend: "workers-ai"`. An error of the binding, no answer
 * within `timeoutMs`, or an answer of the wrong shape (count, width, a non-finite or zero vector,
 * an async-queue ticket) is an `ok: false` outcome (EmbeddingBackendUnavailable), never thrown.
 * Latency: one call per 100 queries, all at once, each bounded by `timeoutMs` (default 2 s).
 */

/** The part of the AI binding this adapter uses (`Ai` satisfies it). */
export interface TextEmbeddingsBinding {
  run(model: string, inputs: { text: string[]; pooling: "cls" }, options: { signal: AbortSignal }): Promise<unknown>;
}

/** Workers AI embeds at most 100 texts per call. */
const MAX_TEXTS_PER_CALL = 100;

// Built on the first answer (z.lazy): Workers AI embeds only when no origin can.
const AnswerSchema = z.lazy(() =>
  z.object({
    shape: z.array(z.number()).optional(),
    data: z.array(z.array(z.number())),
  }),
);

export function createWorkersAiEmbedder(
  ai: TextEmbeddingsBinding,
  model: string,
  { dimensions, timeoutMs = 2_000 }: { dimensions: number; timeoutMs?: number },
): FallbackEmbedder {
  /** The batch's vectors, or why there are none. */
  async function embedBatch(texts: string[]): Promise<number[][] | EmbeddingBackendUnavailable> {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Raced as well as signalled: the budget holds even if the binding ignores the signal.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new EmbeddingBackendUnavailable(`Workers AI did not answer within ${timeoutMs} ms`);
        abort.abort(error);
        reject(error);
      }, timeoutMs);
    });
    try {
      const answer = await Promise.race([ai.run(model, { text: texts, pooling: "cls" }, { signal: abort.signal }), timeout]);
      return vectorsOf(answer, texts.length, dimensions);
    } catch (error) {
      return error instanceof EmbeddingBackendUnavailable
        ? error
        : new EmbeddingBackendUnavailable(`Workers AI failed the ${model} call`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    backend: "workers-ai",
    model,
    dimensions,
    async embed(queries) {
      if (queries.length === 0) return [];
      const started = performance.now();
      const batches: string[][] = [];
      for (let start = 0; start < queries.length; start += MAX_TEXTS_PER_CALL) {
        batches.push(queries.slice(start, start + MAX_TEXTS_PER_CALL));
      }
      const results = await Promise.all(batches.map(embedBatch));
      const ms = performance.now() - started;
      return results.flatMap((result, index): EmbeddingOutcome[] =>
        result instanceof EmbeddingBackendUnavailable
          ? batches[index]!.map(() => ({ ok: false, error: result, ms }))
          : result.map((vector) => ({ ok: true, vector, ms, backend: "workers-ai", fallback: false })),
      );
    },
  };
}

/** The answer's vectors, normalised; throws EmbeddingBackendUnavailable unless it is `count` vectors of `dimensions`. */
function vectorsOf(answer: unknown, count: number, dimensions: number): number[][] {
  const parsed = AnswerSchema.safeParse(answer);
  if (!parsed.success) throw new EmbeddingBackendUnavailable("Workers AI answered without embeddings (expected { shape, data })");
  const { shape, data } = parsed.data;
  if (data.length !== count) throw new EmbeddingBackendUnavailable(`Workers AI returned ${data.length} vectors for ${count} texts`);
  const widths = new Set(data.map((vector) => vector.length));
  if (widths.size !== 1 || !widths.has(dimensions) || (shape && (shape[0] !== count || shape[1] !== dimensions))) {
    throw new EmbeddingBackendUnavailable(`Workers AI returned vectors of ${[...widths].join("/")} dimensions, expected ${dimensions}`);
  }
  return data.map((vector) => {
    const norm = Math.hypot(...vector);
    if (!(norm > 0) || !Number.isFinite(norm)) throw new EmbeddingBackendUnavailable("Workers AI returned a zero or non-finite vector");
    return vector.map((value) => value / norm);
  });
}

/**
 * The production query-embedding fallback: Workers AI with WORKERS_AI_EMBEDDING_MODEL, or none
 * when there is no AI binding or the model is `none`. Throws a ConfigError when the model's
 * width is not EMBEDDING_DIMENSIONS: its vectors would not fit the index.
 */
export function createWorkersAiFallback(
  ai: TextEmbeddingsBinding | undefined,
  config: Pick<Config, "WORKERS_AI_EMBEDDING_MODEL" | "WORKERS_AI_EMBED_TIMEOUT_MS" | "EMBEDDING_DIMENSIONS">,
): FallbackEmbedder | undefined {
  const model = config.WORKERS_AI_EMBEDDING_MODEL;
  if (!ai || model === "none") return undefined;
  const dimensions = WORKERS_AI_EMBEDDING_DIMENSIONS[model];
  if (dimensions !== config.EMBEDDING_DIMENSIONS) {
    throw new ConfigError([
      `WORKERS_AI_EMBEDDING_MODEL: ${model} gives ${dimensions}-dimensional vectors but EMBEDDING_DIMENSIONS is ${config.EMBEDDING_DIMENSIONS}; ` +
        `choose one of ${WORKERS_AI_EMBEDDING_MODELS.join(", ")} of that width (the origin's model family), or none`,
    ]);
  }
  return createWorkersAiEmbedder(ai, model, { dimensions, timeoutMs: config.WORKERS_AI_EMBED_TIMEOUT_MS });
}
