/** Ranking metrics of the evaluation (binary relevance, as both data sets judge it). */

export function ndcgAt10(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  const dcg = ranked.slice(0, 10).reduce((sum, id, index) => sum + (relevant.has(id) ? 1 / Math.log2(index + 2) : 0), 0);
  const ideal = Array.from({ length: Math.min(10, relevant.size) }, (_, index) => 1 / Math.log2(index + 2)).reduce((a, b) => a + b, 0);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** The share of the relevant ids found in the first k. */
export const recallAt = (k: number, ranked: readonly string[], relevant: ReadonlySet<string>) =>
  relevant.size === 0 ? 0 : ranked.slice(0, k).filter((id) => relevant.has(id)).length / relevant.size;

/** Nearest-rank percentile of an ascending list. */
export const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

export const mean = (list: readonly number[]) => (list.length === 0 ? Number.NaN : list.reduce((a, b) => a + b, 0) / list.length);

/**
 * A chunk ranking as a document ranking: each document once, at its best chunk's place and with
 * its score, the first `limit` documents.
 */
export function bestChunkPerDocument<Id>(
  ranking: { ids: readonly Id[]; scores: readonly number[] },
  documentOf: (id: Id) => string,
  limit = Number.POSITIVE_INFINITY,
): { ids: string[]; scores: number[] } {
  const out = { ids: [] as string[], scores: [] as number[] };
  const seen = new Set<string>();
  ranking.ids.forEach((id, at) => {
    const document = documentOf(id);
    if (seen.has(document) || out.ids.length >= limit) return;
    seen.add(document);
    out.ids.push(document);
    out.scores.push(ranking.scores[at]!);
  });
  return out;
}

/** Distinct document ids in order of their first chunk. */
export const documentsOf = (chunks: ReadonlyArray<{ document_id: string }>) => [...new Set(chunks.map((chunk) => chunk.document_id))];

/**
 * The mean per-query gain of `values` over `baseline` (paired: same queries, same order) and its
 * standard error: how fusion settings are compared with BM25 alone on the tuning and held-out slices.
 */
export function pairedGain(values: readonly number[], baseline: readonly number[]): { mean: number; se: number } {
  if (values.length !== baseline.length || values.length < 2) throw new RangeError("paired lists of at least two queries");
  const deltas = values.map((value, index) => value - baseline[index]!);
  const average = mean(deltas);
  const deviation = Math.sqrt(deltas.reduce((sum, delta) => sum + (delta - average) ** 2, 0) / (deltas.length - 1));
  return { mean: average, se: deviation / Math.sqrt(deltas.length) };
}
