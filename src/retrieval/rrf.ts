/**
 * Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): each ranking gives an item
 * 1 / (k + rank) with rank starting at 1, and the contributions are summed. It needs no score
 * calibration between retrievers (BM25 and cosine similarity live on unrelated scales), which is
 * why hybrid retrieval uses it. Each ranking may carry a weight (weighted RRF): a retriever known
 * to be weaker on the deployment's data (e.g. a small CPU embedding model) then counts for less.
 */

export interface FusedItem {
  id: string;
  /** Σ weight / (k + rank) over the rankings that contain the item. */
  rrf: number;
  /**
   * `rrf` divided by the best score possible given the rankings that contributed candidates
   * (being first in every one of them: Σ weight / (k + 1)), so 1.0 means "ranked first by every
   * retriever that returned anything" and the scale is comparable across queries and modes.
   */
  score: number;
  /** The item's 1-based rank in each ranking, or null where it is absent (same order as the input). */
  ranks: Array<number | null>;
}

/**
 * Fuses rankings (each a list of ids, best first; duplicates after the first occurrence are
 * ignored) into one list, best first. Ties keep the order of first appearance, scanning the
 * rankings in the order given, so the result is deterministic.
 */
export function reciprocalRankFusion(
  rankings: ReadonlyArray<readonly string[]>,
  k: number,
  weights: readonly number[] = rankings.map(() => 1),
): FusedItem[] {
  if (!Number.isFinite(k) || k < 0) throw new RangeError("k must be a finite number >= 0");
  if (weights.length !== rankings.length || weights.some((weight) => !(weight > 0) || !Number.isFinite(weight))) {
    throw new RangeError("one finite weight > 0 per ranking");
  }
  const items = new Map<string, FusedItem & { order: number }>();
  rankings.forEach((ranking, which) => {
    const seen = new Set<string>();
    let rank = 0;
    for (const id of ranking) {
      if (seen.has(id)) continue;
      seen.add(id);
      rank += 1;
      let item = items.get(id);
      if (!item) {
        item = { id, rrf: 0, score: 0, ranks: rankings.map(() => null), order: items.size };
        items.set(id, item);
      }
      item.rrf += weights[which]! / (k + rank);
      item.ranks[which] = rank;
    }
  });
  const best = rankings.reduce((sum, ranking, which) => sum + (ranking.length > 0 ? weights[which]! : 0), 0) / (k + 1);
  return [...items.values()]
    .sort((a, b) => b.rrf - a.rrf || a.order - b.order)
    .map(({ order: _order, ...item }) => ({ ...item, score: best > 0 ? Math.min(1, item.rrf / best) : 0 }));
}
