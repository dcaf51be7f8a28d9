import { describe, expect, it } from "vitest";
import { FOLDS, inFold, split } from "../../tools/eval/datasets";
import { documentsOf, mean, ndcgAt10, pairedGain, percentile, recallAt } from "../../tools/eval/metrics";

/** The arithmetic `npm run eval` reports and its fixed split: a wrong metric would mislead every figure. */
describe("eval metrics (happy)", () => {
  it("nDCG@10: 1 for the relevant documents first, discounted by log2(rank + 1), 0 when none is in the first ten", () => {
    expect(ndcgAt10(["a", "b", "x"], new Set(["a", "b"]))).toBe(1);
    // One relevant of two, at rank 2: (1/log2 3) / (1 + 1/log2 3).
    const discounted = 1 / Math.log2(3);
    expect(ndcgAt10(["x", "a"], new Set(["a", "b"]))).toBeCloseTo(discounted / (1 + discounted), 12);
    expect(ndcgAt10([..."0123456789", "a"], new Set(["a"]))).toBe(0);
    expect(ndcgAt10(["a"], new Set())).toBe(0);
  });

  it("recall@k: the share of relevant documents among the first k", () => {
    expect(recallAt(2, ["a", "x", "b"], new Set(["a", "b"]))).toBe(0.5);
    expect(recallAt(3, ["a", "x", "b"], new Set(["a", "b"]))).toBe(1);
    expect(recallAt(5, ["a"], new Set())).toBe(0);
  });

  it("nearest-rank percentiles, means, and documents in order of their first chunk", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 95)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(mean([1, 2, 6])).toBe(3);
    expect(documentsOf([{ document_id: "d2" }, { document_id: "d1" }, { document_id: "d2" }])).toEqual(["d2", "d1"]);
  });

  it("paired gain: the mean per-query difference and its standard error; unpaired lists are refused", () => {
    // Deltas +0.1, +0.3: mean 0.2, sample deviation √0.02, standard error √0.02 / √2 = 0.1.
    const gain = pairedGain([0.6, 0.8], [0.5, 0.5]);
    expect(gain.mean).toBeCloseTo(0.2, 12);
    expect(gain.se).toBeCloseTo(0.1, 12);
    expect(pairedGain([0.4, 0.4, 0.4], [0.5, 0.5, 0.5])).toEqual({ mean: expect.closeTo(-0.1, 12), se: 0 });
    expect(() => pairedGain([0.5, 0.6], [0.5])).toThrow(RangeError);
  });

  it("holds out every 5th query, deterministically, and tunes on the rest", () => {
    const judged = Array.from({ length: 12 }, (_, index) => `q${index}`);
    const { tuning, heldOut } = split(judged);
    expect(heldOut).toEqual(["q4", "q9"]);
    expect(tuning).toHaveLength(10);
    expect([...tuning, ...heldOut].sort()).toEqual([...judged].sort());
    expect(split(judged)).toEqual({ tuning, heldOut });
  });

  it("cross-validates over five folds that cover every query once, the last being the held-out slice", () => {
    const judged = Array.from({ length: 12 }, (_, index) => `q${index}`);
    const folds = Array.from({ length: FOLDS }, (_, fold) => judged.filter((_, index) => inFold(index, fold)));
    expect(folds.map((fold) => fold.length)).toEqual([3, 3, 2, 2, 2]);
    expect(folds.flat().sort()).toEqual([...judged].sort());
    expect(folds[FOLDS - 1]).toEqual(split(judged).heldOut);
  });
});
