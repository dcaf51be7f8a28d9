import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FusionOptions, fuse, type ScoredRanking } from "../../src/retrieval/fusion";
import { reciprocalRankFusion } from "../../src/retrieval/rrf";

const minMax = (vector: number, keyword: number): FusionOptions => ({
  method: "convex",
  normalization: "min-max",
  weights: [vector, keyword],
});
const zScore = (vector: number, keyword: number): FusionOptions => ({
  method: "convex",
  normalization: "z-score",
  weights: [vector, keyword],
});
const ranking = (pairs: Array<[string, number]>): ScoredRanking => ({
  ids: pairs.map(([id]) => id),
  scores: pairs.map(([, score]) => score),
});

describe("convex fusion (happy)", () => {
  it("min-max normalises each ranking and takes the weighted mean (a missing id counts as its list's lowest)", () => {
    const vector = ranking([
      ["a", 0.9],
      ["b", 0.5],
      ["c", 0.1],
    ]);
    const keyword = ranking([
      ["c", 12],
      ["a", 4],
      ["d", 2],
    ]);
    const fused = fuse([vector, keyword], minMax(0.25, 0.75));
    const byId = Object.fromEntries(fused.map((item) => [item.id, item]));
    // Absent from a ranking of 3: −1/3, a step below its worst candidate (0).
    // a: 0.25·1 + 0.75·0.2 = 0.4; b: 0.25·0.5 + 0.75·(−1/3) = −0.125; c: 0 + 0.75·1 = 0.75; d: 0.25·(−1/3) + 0 = −1/12.
    expect(byId.a!.fused).toBeCloseTo(0.4, 12);
    expect(byId.b!.fused).toBeCloseTo(-0.125, 12);
    expect(byId.c!.fused).toBeCloseTo(0.75, 12);
    expect(byId.d!.fused).toBeCloseTo(-1 / 12, 12);
    expect(fused.map((item) => item.id)).toEqual(["c", "a", "d", "b"]);
    expect(byId.a!.ranks).toEqual([1, 2]);
    expect(byId.d!.ranks).toEqual([null, 3]);
    // The 0..1 score runs from "absent from both" (−1/3) to "first in both" (1): every candidate is above 0.
    for (const item of fused) expect(item.score).toBeCloseTo((item.fused + 1 / 3) / (4 / 3), 12);
    expect(fused.every((item) => item.score > 0)).toBe(true);
  });

  it("keeps a clear BM25 winner first when a weak dense side ranks it last — where RRF lets it drop", () => {
    // BM25 is confident (30 vs 10…9); the dense side barely separates its candidates and ranks "win" last.
    const keyword = ranking([
      ["win", 30],
      ["x", 10],
      ["y", 9.5],
      ["z", 9],
    ]);
    const vector = ranking([
      ["z", 0.31],
      ["y", 0.3],
      ["x", 0.29],
      ["win", 0.28],
    ]);
    expect(fuse([vector, keyword], minMax(0.3, 0.7))[0]!.id).toBe("win");
    expect(fuse([vector, keyword], { method: "rrf", k: 1, weights: [1, 1] })[0]!.id).not.toBe("win");
  });

  it("theoretical-min scales from the retriever's lowest possible score: every candidate keeps a share above an absent one", () => {
    const keyword = {
      ...ranking([
        ["a", 8],
        ["b", 4],
      ]),
      lowest: 0,
    };
    const vector = {
      ...ranking([
        ["b", 0.5],
        ["c", 0],
      ]),
      lowest: -1,
    };
    const options: FusionOptions = { method: "convex", normalization: "theoretical-min", weights: [0.5, 0.5] };
    const fused = fuse([vector, keyword], options);
    // a: (0 + 1)/2; b: (1 + 0.5)/2; c: ((0 + 1)/(0.5 + 1) + 0)/2.
    expect(fused.map((item) => item.id)).toEqual(["b", "a", "c"]);
    expect(fused.map((item) => item.fused)).toEqual([0.75, 0.5, 1 / 3].map((value) => expect.closeTo(value, 12)));
    expect(fused.every((item) => item.score > 0)).toBe(true);
    // Without a known lowest score it is min-max.
    const unbounded = fuse(
      [
        ranking([
          ["b", 0.5],
          ["c", 0],
        ]),
        ranking([
          ["a", 8],
          ["b", 4],
        ]),
      ],
      options,
    );
    expect(unbounded.map((item) => item.fused)).toEqual(fuse([vector, keyword], minMax(0.5, 0.5)).map((item) => item.fused));
  });

  it("z-score normalises by mean and deviation, and maps the fused value onto 0..1", () => {
    const vector = ranking([
      ["a", 3],
      ["b", 1],
    ]);
    const keyword = ranking([
      ["b", 10],
      ["a", 0],
    ]);
    const fused = fuse([vector, keyword], zScore(0.5, 0.5));
    // Both lists have z-scores ±1: a and b tie at 0 and keep the order of first appearance.
    expect(fused.map((item) => [item.id, item.fused])).toEqual([
      ["a", 0],
      ["b", 0],
    ]);
    // The scale runs from "absent from both" (z −1 − 2/2 = −2 in each) to "first in both" (1).
    const lopsided = fuse([vector, keyword], zScore(0.2, 0.8));
    expect(lopsided.map((item) => item.id)).toEqual(["b", "a"]);
    expect(lopsided[0]!.score).toBeCloseTo((0.6 + 2) / 3, 12);
    expect(lopsided[1]!.score).toBeCloseTo((-0.6 + 2) / 3, 12);
    const single = fuse([vector, ranking([])], zScore(0.2, 0.8));
    expect(single.map((item) => [item.id, item.score])).toEqual([
      ["a", 1],
      ["b", expect.closeTo(1 / 3, 12)],
    ]);
  });

  it("scores 1.0 for the first of every ranking, and ignores a ranking that returned nothing", () => {
    const only = ranking([
      ["p", 5],
      ["q", 1],
    ]);
    const withEmpty = fuse([ranking([]), only], minMax(0.9, 0.1));
    // q, last of two, sits one half-step above "absent" (−1/2): (0 + 1/2) / (1 + 1/2).
    expect(withEmpty.map((item) => [item.id, item.score])).toEqual([
      ["p", 1],
      ["q", expect.closeTo(1 / 3, 12)],
    ]);
    // One candidate, or equal scores: nothing separates them, each is as good as the best.
    expect(fuse([ranking([["solo", 2]])], { method: "convex", normalization: "min-max", weights: [1] })[0]!.score).toBe(1);
    expect(fuse([ranking([]), ranking([])], minMax(0.5, 0.5))).toEqual([]);
  });

  it("ignores duplicates after the first occurrence and candidates without a finite score", () => {
    const fused = fuse(
      [
        ranking([
          ["a", 2],
          ["a", 1],
          ["n", Number.NaN],
          ["b", 0],
        ]),
      ],
      { method: "convex", normalization: "min-max", weights: [1] },
    );
    expect(fused.map((item) => [item.id, item.fused, item.ranks[0]])).toEqual([
      ["a", 1, 1],
      ["b", 0, 2],
    ]);
  });

  it("rrf through fuse() is reciprocalRankFusion, its sum as the fused value", () => {
    const vector = ranking([
      ["a", 0.9],
      ["b", 0.8],
    ]);
    const keyword = ranking([
      ["b", 3],
      ["c", 2],
    ]);
    const fused = fuse([vector, keyword], { method: "rrf", k: 10, weights: [0.2, 1] });
    const expected = reciprocalRankFusion([vector.ids, keyword.ids], 10, [0.2, 1]);
    expect(fused).toEqual(expected.map(({ rrf, ...item }) => ({ ...item, fused: rrf })));
  });
});

describe("convex fusion (properties)", () => {
  const list = fc.uniqueArray(fc.tuple(fc.constantFrom(..."abcdefghij"), fc.double({ min: -50, max: 50, noNaN: true })), {
    selector: ([id]) => id,
    maxLength: 10,
  });
  const sorted = (pairs: Array<[string, number]>) => ranking([...pairs].sort((x, y) => y[1] - x[1]));

  it("returns every id once, best first, with scores in 0..1 and the top of both lists at 1.0", () => {
    fc.assert(
      fc.property(
        list,
        list,
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        fc.constantFrom("min-max" as const, "theoretical-min" as const, "z-score" as const),
        (v, k, w, normalization) => {
          const vector = { ...sorted(v), lowest: -50 };
          const keyword = { ...sorted(k), lowest: -50 };
          const fused = fuse([vector, keyword], { method: "convex", normalization, weights: [w, 1 - w] });
          expect(fused.map((item) => item.id).sort()).toEqual([...new Set([...vector.ids, ...keyword.ids])].sort());
          for (let i = 1; i < fused.length; i++) expect(fused[i - 1]!.fused).toBeGreaterThanOrEqual(fused[i]!.fused);
          for (const item of fused) {
            expect(item.score).toBeGreaterThanOrEqual(0);
            expect(item.score).toBeLessThanOrEqual(1);
          }
          if (vector.ids.length > 0 && vector.ids[0] === keyword.ids[0]) expect(fused[0]!.score).toBe(1);
        },
      ),
    );
  });
});

describe("fusion settings (error)", () => {
  it("rejects a weight per ranking that is missing, zero, negative or not finite", () => {
    const one = ranking([["a", 1]]);
    expect(() => fuse([one, one], { method: "convex", normalization: "min-max", weights: [1] })).toThrow(RangeError);
    expect(() => fuse([one], { method: "convex", normalization: "min-max", weights: [0] })).toThrow(RangeError);
    expect(() => fuse([one], { method: "convex", normalization: "z-score", weights: [-1] })).toThrow(RangeError);
    expect(() => fuse([one], { method: "rrf", k: 60, weights: [Number.POSITIVE_INFINITY] })).toThrow(RangeError);
  });
});
