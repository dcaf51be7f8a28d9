/**
 * The rerank port: a cross-encoder scores (query, text) pairs after fusion, and the fused
 * candidates are reordered by that score (src/retrieval/retrieve.ts).
 *
 * Adapters: the origin's `/v1/rerank` (TEI's `/rerank` shape, tei-reranker.ts) and Workers AI's
 * `@cf/baai/bge-reranker-base` (workers-ai-reranker.ts). Locally there is none: no cross-encoder
 * weights are available offline, so RERANKER defaults to `none` and fused order stands.
 *
 * Promise of every adapter: one finite score per text, in the order of `texts` (higher is more
 * relevant), or a thrown RerankUnavailable — never a partial or reordered answer. The caller
 * degrades to the fused order (`rerank_unavailable`).
 */
export interface Reranker {
  /** What is reranking (part of cache keys: another reranker gives other results). */
  readonly name: string;
  /** `tenant`: whose query it is (the origin's token names it). */
  rerank(query: string, texts: readonly string[], tenant: string): Promise<number[]>;
}

export class RerankUnavailable extends Error {
  override readonly name = "RerankUnavailable";
}

/**
 * Scores by index from an answer of `{ index, score }` pairs (in any order, possibly more than
 * asked): exactly one finite score per text, else RerankUnavailable.
 */
export function scoresByIndex(pairs: ReadonlyArray<{ index: number; score: number }>, count: number, source: string): number[] {
  const scores: Array<number | undefined> = new Array(count).fill(undefined);
  for (const { index, score } of pairs) {
    if (!Number.isInteger(index) || index < 0 || index >= count || !Number.isFinite(score) || scores[index] !== undefined) {
      throw new RerankUnavailable(`${source} answered with an unexpected index or score`);
    }
    scores[index] = score;
  }
  if (scores.some((score) => score === undefined)) throw new RerankUnavailable(`${source} did not score every text`);
  return scores as number[];
}

/** Runs `work` with an abort signal that fires after `timeoutMs`; a timeout is RerankUnavailable. */
export async function withTimeout<T>(timeoutMs: number, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new RerankUnavailable(`${what} did not answer within ${timeoutMs} ms`);
      abort.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(abort.signal), timeout]);
  } catch (error) {
    throw error instanceof RerankUnavailable ? error : new RerankUnavailable(`${what} failed`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
