import { z } from "@hono/zod-openapi";
import { type Reranker, RerankUnavailable, scoresByIndex, withTimeout } from "./reranker";

/**
 * Adapter: Workers AI's cross-encoder `@cf/baai/bge-reranker-base` (the `AI` binding), the edge
 * reranker when no origin reranker is configured.
 *
 * Wire format, as Cloudflare documents it: `run(model, { query, contexts: [{ text }], top_k? })`
 * → `{ response: [{ id, score }] }`, `id` being the context's index in the request. It sends
 * `top_k` = the number of contexts so that every one comes back scored.
 *
 * Promise: see reranker.ts. Latency: one binding call, bounded by `timeoutMs` (default 2 s).
 */

/** The part of the AI binding this adapter uses (`Ai` satisfies it). */
export interface RerankBinding {
  run(
    model: string,
    inputs: { query: string; contexts: Array<{ text: string }>; top_k: number },
    options: { signal: AbortSignal },
  ): Promise<unknown>;
}

export const WORKERS_AI_RERANK_MODEL = "@cf/baai/bge-reranker-base";

// Built on the first answer (z.lazy): only isolates that rerank need it.
const AnswerSchema = z.lazy(() => z.object({ response: z.array(z.object({ id: z.number(), score: z.number() })) }));

export function createWorkersAiReranker(ai: RerankBinding, { model = WORKERS_AI_RERANK_MODEL, timeoutMs = 2_000 } = {}): Reranker {
  return {
    name: `workers-ai:${model}`,
    async rerank(query, texts) {
      if (texts.length === 0) return [];
      return withTimeout(timeoutMs, "Workers AI's reranker", async (signal) => {
        const answer = await ai.run(model, { query, contexts: texts.map((text) => ({ text })), top_k: texts.length }, { signal });
        const parsed = AnswerSchema.safeParse(answer);
        if (!parsed.success) throw new RerankUnavailable("Workers AI's reranker answer did not have the documented shape");
        return scoresByIndex(
          parsed.data.response.map(({ id, score }) => ({ index: id, score })),
          texts.length,
          "Workers AI's reranker",
        );
      });
    },
  };
}
