import type { FilterPlan } from "./filters";

/** Vectorize's cap on topK when neither values nor metadata are returned. */
export const VECTORIZE_MAX_TOP_K = 100;

/**
 * Dense retrieval in the tenant's namespace of the vector index.
 *
 * Promise: at most `limit` chunks closest to `vector` with the index's score, closest first. With several
 * collections, one query per collection runs in parallel (the "sharded index" of the classic
 * deployment) and the matches are merged by score — scores of one index and metric are
 * comparable. Vectorize errors propagate (the caller degrades to keyword retrieval).
 * Latency: one index round trip (the queries are concurrent).
 */
export async function vectorSearch(
  vectors: Vectorize,
  request: { tenant: string; vector: number[]; plan: FilterPlan; limit: number; metric: VectorizeDistanceMetric },
): Promise<VectorHit[]> {
  const topK = Math.min(request.limit, VECTORIZE_MAX_TOP_K);
  const answers = await Promise.all(
    request.plan.vectorFilters.map((filter) =>
      vectors.query(request.vector, {
        topK,
        namespace: request.tenant,
        returnValues: false,
        returnMetadata: "none",
        ...(filter ? { filter } : {}),
      }),
    ),
  );
  // Cosine is a similarity (higher is closer); euclidean and dot-product scores are distances.
  const closer = request.metric === "cosine" ? (a: number, b: number) => b - a : (a: number, b: number) => a - b;
  const seen = new Set<string>();
  return answers
    .flatMap((answer) => answer.matches)
    .sort((a, b) => closer(a.score, b.score))
    .filter((match) => !seen.has(match.id) && seen.add(match.id))
    .slice(0, topK)
    .map((match) => ({ id: match.id, score: match.score }));
}

export interface VectorHit {
  id: string;
  /** The index's score: cosine similarity, or the distance of the euclidean / dot-product metrics. */
  score: number;
}
