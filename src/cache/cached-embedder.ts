import { z } from "@hono/zod-openapi";
import type { EmbeddingOutcome, EmbeddingScope, QueryEmbedder } from "../embedding/query-embedder";
import { metrics } from "../metrics";
import type { TenantState } from "../store/tenant-store";
import { cacheKey, normaliseText } from "./cache-key";
import type { TieredCache } from "./tiered-cache";

/**
 * Query embeddings, cached: a question asked again — with other filters, another top_k or mode,
 * or after its answer expired — costs no origin embedding call.
 *
 * Keyed by tenant, the tenant's embedding model (the model its documents were embedded with, which
 * its queries must match), the vector width and the normalised text. Per tenant, so that timing
 * cannot tell one tenant which questions another asked. Only the primary backend's vectors are
 * stored: a fallback's (Workers AI) are used once, never cached under the origin's model.
 * Failure modes: the tiered cache's (a failing tier is a miss). Latency on a hit: the tier reads.
 */
export function withEmbeddingCache(
  embedder: QueryEmbedder,
  options: {
    cache: TieredCache;
    tenantState: (tenant: string, background?: (work: Promise<unknown>) => void) => Promise<TenantState>;
    ttlSeconds: number;
    dimensions: number;
  },
): QueryEmbedder {
  const { cache, dimensions } = options;
  const VectorSchema = z.array(z.number()).length(dimensions);

  return {
    async embed(queries, scope?: EmbeddingScope) {
      if (!scope?.cache || options.ttlSeconds <= 0) return embedder.embed(queries, scope);
      const started = performance.now();
      const state = await options.tenantState(scope.tenant, scope.defer);
      const keys = await Promise.all(
        queries.map((query) => cacheKey("query-embedding", [scope.tenant, state.embeddingModel, dimensions, normaliseText(query)])),
      );
      const cached = await Promise.all(keys.map((key) => cache.get(key, VectorSchema, scope.defer)));

      const missing = cached.flatMap((entry, index) => (entry ? [] : [index]));
      const computed =
        missing.length > 0
          ? await embedder.embed(
              missing.map((index) => queries[index]!),
              scope,
            )
          : [];
      const computedAt = new Map(missing.map((index, position) => [index, computed[position]!]));
      const hitMs = performance.now() - started;
      const outcomes = cached.map((entry, index): EmbeddingOutcome => {
        if (entry) return { ok: true, vector: entry.value, ms: hitMs, backend: "origin", fallback: false };
        const outcome = computedAt.get(index)!;
        if (outcome.ok && !outcome.fallback) scope.defer(cache.put(keys[index]!, outcome.vector, options.ttlSeconds));
        return outcome;
      });
      for (const entry of cached)
        metrics.cacheResults.inc({ operation: "embedding", status: entry ? "hit" : "miss", tier: entry?.tier ?? "none" });
      return outcomes;
    },
  };
}
