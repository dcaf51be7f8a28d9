import type { Config } from "../config";
import type { EmbeddingOutcome } from "../embedding/query-embedder";
import { errorFields, log } from "../logger";
import type { DegradedReason, RetrievalMode } from "../query/schemas";
import type { Reranker } from "../rerank/reranker";
import type { TenantDataFor } from "../tenant/tenant-data-port";
import { type FilterPlan, type Filters, planFilters } from "./filters";
import { toFtsMatchExpression } from "./fts-query";
import { type FusionOptions, fuse, type ScoredRanking } from "./fusion";
import { type HydratedChunk, hydrateChunks } from "./hydrate";
import { keywordSearch } from "./keyword-search";
import { VECTORIZE_MAX_TOP_K, type VectorHit, vectorSearch } from "./vector-search";

/**
 * Hybrid retrieval: BM25 over the tenant's FTS5 index ∥ (query embedding → Vectorize), fused
 * (fusion.ts: weighted reciprocal-rank fusion, or a convex combination of normalised scores),
 * hydrated from the tenant's object: the keyword hits come back with their chunks, and the vector
 * hits among them need no second call.
 *
 * Promise: at most `topK` chunks of the tenant that satisfy the filter exactly, best first, each
 * with a fused score in 0..1. It degrades instead of failing when the origin cannot embed the
 * query or the vector index cannot answer (keyword-only, with the reason listed); it fails only
 * when the tenant's object fails, because then nothing can answer. Latency: max(embed + vector
 * query, keyword search) + one hydration call for the vector hits the keyword search did not return.
 */

export interface Retriever {
  retrieve(request: RetrievalRequest): Promise<Retrieval>;
}

export interface RetrievalRequest {
  tenant: string;
  query: string;
  mode: RetrievalMode;
  topK: number;
  filters?: Filters;
  /** Required unless mode is keyword (the caller embeds, so that a batch makes one origin call). */
  embedding?: Promise<EmbeddingOutcome>;
}

export type RetrievalConfig = Pick<
  Config,
  | "RRF_K"
  | "RRF_VECTOR_WEIGHT"
  | "RRF_KEYWORD_WEIGHT"
  | "FUSION"
  | "FUSION_NORMALIZATION"
  | "CONVEX_VECTOR_WEIGHT"
  | "RETRIEVAL_CANDIDATES"
  | "VECTOR_METRIC"
  | "VECTORIZE_METADATA_INDEXES"
  | "RERANK_CANDIDATES"
>;

export function createRetriever(tenantData: TenantDataFor, vectors: Vectorize, config: RetrievalConfig, reranker?: Reranker): Retriever {
  const deps: RetrieverDeps = {
    tenantData,
    vectors,
    reranker,
    rerankCandidates: config.RERANK_CANDIDATES,
    fusion:
      config.FUSION === "convex"
        ? {
            method: "convex",
            normalization: config.FUSION_NORMALIZATION,
            weights: { vector: config.CONVEX_VECTOR_WEIGHT, keyword: 1 - config.CONVEX_VECTOR_WEIGHT },
          }
        : { method: "rrf", k: config.RRF_K, weights: { vector: config.RRF_VECTOR_WEIGHT, keyword: config.RRF_KEYWORD_WEIGHT } },
    candidates: config.RETRIEVAL_CANDIDATES,
    metric: config.VECTOR_METRIC,
  };
  return {
    retrieve: ({ filters, ...request }) => retrieve(deps, { ...request, plan: planFilters(filters, config.VECTORIZE_METADATA_INDEXES) }),
  };
}

export interface RetrieverDeps {
  tenantData: TenantDataFor;
  vectors: Vectorize;
  /** How the dense and the keyword ranking are fused, with the weight of each. */
  fusion: HybridFusion;
  /** Candidates each retriever contributes before fusion. */
  candidates: number;
  metric: VectorizeDistanceMetric;
  /** Reorders the best fused candidates (none: fused order stands). */
  reranker?: Reranker;
  /** How many fused candidates the reranker scores (at least topK, at most MAX_RERANK_CANDIDATES). */
  rerankCandidates?: number;
}

export type HybridFusion = DistributiveOmit<FusionOptions, "weights"> & { weights: { vector: number; keyword: number } };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The most candidates one rerank call scores. */
export const MAX_RERANK_CANDIDATES = 100;

/** A retrieval request with its filters planned (what the tenant's object applies, what is pushed down to the index). */
export type RetrieveRequest = Omit<RetrievalRequest, "filters"> & { plan: FilterPlan };

export interface RetrievedChunk extends HydratedChunk {
  /** The fused score normalised to 0..1 (see fusion.ts). */
  score: number;
  /** 1-based rank per stage, null where the stage did not rank the chunk (or did not run). */
  ranks: { vector: number | null; keyword: number | null; rerank: number | null };
  /** Score per stage: vector similarity (or distance), BM25, the raw fused value (RRF sum or convex mean), the reranker's score. */
  scores: { vector: number | null; keyword: number | null; fusion: number; rerank: number | null };
}

export interface Retrieval {
  chunks: RetrievedChunk[];
  degraded: DegradedReason[];
  timings: { embed_ms: number; retrieve_ms: number };
}

export async function retrieve(deps: RetrieverDeps, request: RetrieveRequest): Promise<Retrieval> {
  const started = performance.now();
  const { tenant, plan, mode } = request;
  const degraded: DegradedReason[] = [];
  const candidates = Math.max(deps.candidates, request.topK);
  const match = toFtsMatchExpression(request.query);
  const store = deps.tenantData(tenant);
  // The keyword hits' chunks come with them: hydration then only asks for the vector hits not among them.
  const hydrated = new Map<string, HydratedChunk>();
  const keyword = async () => {
    if (!match) return [];
    const { hits, chunks } = await keywordSearch(store, { match, plan, limit: candidates });
    for (const [id, chunk] of chunks) hydrated.set(id, chunk);
    return hits;
  };

  let embedMs = 0;
  const dense = async (): Promise<VectorHit[] | null> => {
    if (mode === "keyword") return null;
    if (!request.embedding) throw new Error("retrieve: an embedding is required unless mode is keyword");
    const embedding = await request.embedding;
    embedMs = embedding.ms;
    if (!embedding.ok) {
      degraded.push("embedding_unavailable");
      return null;
    }
    // Dense retrieval still runs, on a vector from the fallback backend (Workers AI).
    if (embedding.fallback) degraded.push("embedding_fallback");
    try {
      // When the object must still apply part of the filter, ask for as many as Vectorize allows so that
      // enough candidates survive it.
      const limit = plan.fullyPushedDown ? candidates : VECTORIZE_MAX_TOP_K;
      return await vectorSearch(deps.vectors, { tenant, vector: embedding.vector, plan, limit, metric: deps.metric });
    } catch (error) {
      degraded.push("vector_index_unavailable");
      log.warn("vector search failed; keyword retrieval only", errorFields(error));
      return null;
    }
  };

  // Keyword search runs alongside the embedding unless the request asked for vectors only; a
  // vector-only request whose vectors are unavailable falls back to it afterwards.
  const [keywordHits, vectorHits] = await Promise.all([mode === "vector" ? Promise.resolve(null) : keyword(), dense()]);
  const keywordRanking = keywordHits ?? (vectorHits ? null : await keyword());
  const vectorScores = new Map(vectorHits?.map((hit) => [hit.id, hit.score]));
  const keywordScores = new Map(keywordRanking?.map((hit) => [hit.id, hit.bm25]));
  // Fusion needs higher-is-better scores: euclidean and dot-product scores are distances here.
  const closeness = deps.metric === "cosine" ? (score: number) => score : (score: number) => -score;
  // The lowest scores possible (for `theoretical-min`): cosine −1, BM25 (FTS5's −bm25()) 0; none for distances.
  const rankings: ScoredRanking[] = [];
  if (vectorHits) {
    const lowest = deps.metric === "cosine" ? -1 : undefined;
    rankings.push({ ids: vectorHits.map((hit) => hit.id), scores: vectorHits.map((hit) => closeness(hit.score)), lowest });
  }
  if (keywordRanking) rankings.push({ ids: keywordRanking.map((hit) => hit.id), scores: keywordRanking.map((hit) => hit.bm25), lowest: 0 });

  const missing = [...new Set(rankings.flatMap((ranking) => ranking.ids))].filter((id) => !hydrated.has(id));
  for (const [id, chunk] of await hydrateChunks(store, { ids: missing, plan })) hydrated.set(id, chunk);
  // Ranks (and the score normalisation) are taken after the exact filter and the tenant check, so
  // a dropped candidate never pushes a valid one down.
  const surviving = rankings.map((ranking) => {
    const { ids, scores } = ranking;
    const kept = ids.flatMap((id, at) => (hydrated.has(id) ? [at] : []));
    return { ...ranking, ids: kept.map((at) => ids[at]!), scores: kept.map((at) => scores[at]!) };
  });
  const weights = [...(vectorHits ? [deps.fusion.weights.vector] : []), ...(keywordRanking ? [deps.fusion.weights.keyword] : [])];
  const fused = fuse(surviving, { ...deps.fusion, weights });
  const vectorIndex = vectorHits ? 0 : -1;
  const keywordIndex = keywordRanking ? surviving.length - 1 : -1;
  const ranked = fused.map(
    (item): RetrievedChunk => ({
      ...hydrated.get(item.id)!,
      score: item.score,
      ranks: { vector: item.ranks[vectorIndex] ?? null, keyword: item.ranks[keywordIndex] ?? null, rerank: null },
      scores: {
        vector: vectorScores.get(item.id) ?? null,
        keyword: keywordScores.get(item.id) ?? null,
        fusion: item.fused,
        rerank: null,
      },
    }),
  );
  const chunks = (deps.reranker ? await rerank(deps, request, ranked, degraded) : ranked).slice(0, request.topK);
  return { chunks, degraded, timings: { embed_ms: embedMs, retrieve_ms: performance.now() - started } };
}

/**
 * The rerank step: the best `max(rerankCandidates, topK)` fused candidates (at most
 * MAX_RERANK_CANDIDATES) reordered by the reranker's score, which becomes their `score` (clamped
 * to 0..1: TEI's and Workers AI's scores are sigmoids); candidates past the window follow in fused
 * order, their score capped by the last reranked one so that scores stay best first. When the
 * reranker fails, the fused order stands and `rerank_unavailable` is reported.
 */
async function rerank(deps: RetrieverDeps, request: RetrieveRequest, ranked: RetrievedChunk[], degraded: DegradedReason[]) {
  const window = Math.min(ranked.length, MAX_RERANK_CANDIDATES, Math.max(deps.rerankCandidates ?? 0, request.topK));
  if (window === 0 || !deps.reranker) return ranked;
  const head = ranked.slice(0, window);
  let scores: number[];
  try {
    scores = await deps.reranker.rerank(
      request.query,
      head.map((chunk) => chunk.text),
      request.tenant,
    );
  } catch (error) {
    degraded.push("rerank_unavailable");
    log.warn("rerank failed; fused order kept", errorFields(error));
    return ranked;
  }
  // Array.prototype.sort is stable: equal rerank scores keep the fused order.
  const reordered = head
    .map((chunk, position) => ({ chunk, rerank: scores[position]! }))
    .sort((a, b) => b.rerank - a.rerank)
    .map(
      ({ chunk, rerank }, position): RetrievedChunk => ({
        ...chunk,
        score: Math.min(1, Math.max(0, rerank)),
        ranks: { ...chunk.ranks, rerank: position + 1 },
        scores: { ...chunk.scores, rerank },
      }),
    );
  const floor = reordered.at(-1)!.score;
  return [...reordered, ...ranked.slice(window).map((chunk) => ({ ...chunk, score: Math.min(chunk.score, floor) }))];
}
