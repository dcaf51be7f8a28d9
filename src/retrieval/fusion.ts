import { reciprocalRankFusion } from "./rrf";

/**
 * Hybrid fusion of the dense and the keyword ranking, by one of two methods:
 *
 * - `rrf`: weighted reciprocal-rank fusion (rrf.ts). Uses ranks only: robust when both retrievers
 *   are good, but it gives a weak retriever's 1st place the same pull as a strong one's, so with
 *   a weak embedder it drags BM25's good results down.
 * - `convex`: a convex combination of the retrievers' scores, each normalised per query over its
 *   own candidates: `min-max` (the best → 1, the worst → 0), `theoretical-min` (the best → 1, the
 *   retriever's lowest possible score → 0: BM25 0, cosine −1; Bruch et al.'s TMM), or `z-score`
 *   (mean 0, deviation 1). Scores keep how confident a retriever is: a
 *   BM25 winner far ahead of the rest stays ahead, and the dense side only reorders near-ties.
 *   Bruch, Gai & Ingber (ACM TOIS 2023) found it at least as good as RRF and easier to tune; on
 *   SciFact with the offline embedder it is what lets hybrid beat BM25 (README, SciFact figures).
 *
 * Promise: every id of every ranking exactly once, best first; ties keep the order of first
 * appearance (rankings scanned in the order given), so the result is deterministic. Pure, no I/O.
 */

export type FusionMethod = "rrf" | "convex";
export type ScoreNormalization = "min-max" | "theoretical-min" | "z-score";

export type FusionOptions =
  | { method: "rrf"; k: number; weights: readonly number[] }
  | { method: "convex"; normalization: ScoreNormalization; weights: readonly number[] };

/** One retriever's candidates, best first, each with a score where higher is better. */
export interface ScoredRanking {
  ids: readonly string[];
  scores: readonly number[];
  /** The lowest score the retriever can give (`theoretical-min` normalisation; the observed minimum when absent). */
  lowest?: number;
}

export interface Fused {
  id: string;
  /** The raw fused value: the RRF sum, or the weighted mean of normalised scores. */
  fused: number;
  /** `fused` on a 0..1 scale comparable across queries: 1.0 = first in every ranking that returned anything. */
  score: number;
  /** The item's 1-based rank in each ranking, or null where it is absent (same order as the input). */
  ranks: Array<number | null>;
}

export function fuse(rankings: readonly ScoredRanking[], options: FusionOptions): Fused[] {
  if (options.weights.length !== rankings.length || options.weights.some((weight) => !(weight > 0) || !Number.isFinite(weight))) {
    throw new RangeError("one finite weight > 0 per ranking");
  }
  if (options.method === "rrf") {
    return reciprocalRankFusion(
      rankings.map((ranking) => ranking.ids),
      options.k,
      options.weights,
    ).map(({ rrf, ...item }) => ({ ...item, fused: rrf }));
  }
  return convexCombination(rankings, options.weights, options.normalization);
}

interface Normalised {
  /** Normalised score per id (first occurrence only). */
  byId: Map<string, number>;
  /**
   * What an id absent from the ranking gets: a step below its worst candidate (one n-th of the
   * candidates' range; with theoretical-min, the retriever's lowest possible score), so "not
   * retrieved" ranks below "retrieved last" and every candidate's 0..1 score is above 0.
   */
  floor: number;
  /** The top of the scale (the best candidate's normalised score). */
  ceiling: number;
}

function normalise(ranking: ScoredRanking, normalization: ScoreNormalization): Normalised {
  const byId = new Map<string, number>();
  const raw = new Map<string, number>();
  ranking.ids.forEach((id, index) => {
    const score = ranking.scores[index];
    if (raw.has(id) || score === undefined || !Number.isFinite(score)) return;
    raw.set(id, score);
  });
  const values = [...raw.values()];
  if (values.length === 0) return { byId, floor: 0, ceiling: 0 };
  if (normalization !== "z-score") {
    const observed = Math.min(...values);
    const bounded = normalization === "theoretical-min" && ranking.lowest !== undefined;
    const min = bounded ? Math.min(ranking.lowest!, observed) : observed;
    const span = Math.max(...values) - min;
    // One candidate, or all equal: nothing separates them, so each is as good as the best.
    for (const [id, score] of raw) byId.set(id, span > 0 ? (score - min) / span : 1);
    return { byId, floor: bounded || span === 0 ? 0 : -1 / values.length, ceiling: 1 };
  }
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const deviation = Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
  for (const [id, score] of raw) byId.set(id, deviation > 0 ? (score - mean) / deviation : 0);
  const normalised = [...byId.values()];
  const [lowest, highest] = [Math.min(...normalised), Math.max(...normalised)];
  return { byId, floor: highest > lowest ? lowest - (highest - lowest) / values.length : lowest - 1, ceiling: highest };
}

function convexCombination(rankings: readonly ScoredRanking[], weights: readonly number[], normalization: ScoreNormalization): Fused[] {
  const normalised = rankings.map((ranking) => normalise(ranking, normalization));
  // Only rankings that returned something take part: a retriever that found nothing neither
  // lowers every score nor changes the order.
  const active = normalised.map((list) => list.byId.size > 0);
  const total = weights.reduce((sum, weight, which) => sum + (active[which] ? weight : 0), 0);
  const items = new Map<string, Fused & { order: number }>();
  rankings.forEach((ranking, which) => {
    const seen = new Set<string>();
    for (const id of ranking.ids) {
      if (seen.has(id) || !normalised[which]!.byId.has(id)) continue;
      seen.add(id);
      let item = items.get(id);
      if (!item) {
        item = { id, fused: 0, score: 0, ranks: rankings.map(() => null), order: items.size };
        items.set(id, item);
      }
      item.ranks[which] = seen.size;
    }
  });
  const floor = normalised.reduce((sum, list, which) => sum + (active[which] ? weights[which]! * list.floor : 0), 0) / (total || 1);
  const ceiling = normalised.reduce((sum, list, which) => sum + (active[which] ? weights[which]! * list.ceiling : 0), 0) / (total || 1);
  for (const item of items.values()) {
    let sum = 0;
    normalised.forEach((list, which) => {
      if (active[which]) sum += weights[which]! * (list.byId.get(item.id) ?? list.floor);
    });
    item.fused = sum / total;
    item.score = ceiling > floor ? Math.min(1, Math.max(0, (item.fused - floor) / (ceiling - floor))) : 1;
  }
  return [...items.values()].sort((a, b) => b.fused - a.fused || a.order - b.order).map(({ order: _order, ...item }) => item);
}
