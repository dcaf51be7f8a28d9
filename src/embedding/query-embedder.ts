import { OriginFailure } from "../errors";
import { errorFields, log } from "../logger";
import type { OriginClient } from "../origin/origin-client";

/**
 * Port: query embeddings for dense retrieval.
 *
 * Promise: one outcome per query, in order, from ONE call for the whole list (a batch of queries
 * costs one round trip). An outage of the embedding backend is an outcome (`ok: false`, with the
 * failure), not an exception, so retrieval degrades to keyword-only instead of failing; only a
 * bug throws. Latency: the backend's (origin: ~2 s timeout, typically a few ms on GPU).
 */
export interface QueryEmbedder {
  embed(queries: readonly string[]): Promise<EmbeddingOutcome[]>;
}

/** A query embedding, or why there is none. */
export type EmbeddingOutcome = { ok: true; vector: number[]; ms: number } | { ok: false; error: OriginFailure; ms: number };

/** The origin's embedder (TEI on GPU in production, the offline USE model locally). */
export function createOriginEmbedder(origin: OriginClient): QueryEmbedder {
  return {
    async embed(queries) {
      if (queries.length === 0) return [];
      const started = performance.now();
      try {
        const { vectors } = await origin.embed([...queries], "query");
        const ms = performance.now() - started;
        return vectors.map((vector) => ({ ok: true, vector, ms }));
      } catch (error) {
        if (!(error instanceof OriginFailure)) throw error;
        log.warn("query embedding unavailable; keyword retrieval only", errorFields(error));
        const ms = performance.now() - started;
        return queries.map(() => ({ ok: false, error, ms }));
      }
    },
  };
}
