/**
 * Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): each ranking gives an item
 * 1 / (k + rank) with rank starting at 1, and the contributions are summed. It needs no score
 * calibration between retrievers (BM25 and cosine similarity live on unrelated scales), which is
 * why hybrid retrieval uses it.
 */

export interface FusedItem {
  id: string;
  /** Σ 1 / (k + rank) over the rankings that contain the item. */
  rrf: number;
  /**
   * `rrf` divided by the best score possible given the rankings that contributed candidates
   * (being first in every one of them: n / (k + 1)), so 1.0 means "ranked first by every
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
export function reciprocalRankFusion(rankings: ReadonlyArray<readonly string[]>, k: number): FusedItem[] {
  if (!Number.isFinite(k) || k < 0) throw new RangeError("k must be a finite number >= 0");
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
      item.rrf += 1 / (k + rank);
      item.ranks[which] = rank;
    }
  });
  const contributing = rankings.filter((ranking) => ranking.length > 0).length;
  const best = contributing / (k + 1);
  return [...items.values()]
    .sort((a, b) => b.rrf - a.rrf || a.order - b.order)
    .map(({ order: _order, ...item }) => ({ ...item, score: best > 0 ? Math.min(1, item.rrf / best) : 0 }));
}
