import { describe, expect, it } from "vitest";
import { mapWithConcurrency } from "../../src/query/concurrency";
import { preview } from "../../src/query/sources";
import { filtersSchema, MAX_FILTER_KEYS, planFilters } from "../../src/retrieval/filters";
import { MAX_FTS_TERMS, toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { reciprocalRankFusion } from "../../src/retrieval/rrf";

/** Retrieval's pure parts: fusion, FTS5 query building, filter validation and push-down planning. The SQL they generate runs on the real D1 in test/worker/retrieval.test.ts. */

describe("reciprocal-rank fusion (happy)", () => {
  it("sums 1/(k + rank) and ranks an item found by both retrievers above one found by either", () => {
    const fused = reciprocalRankFusion(
      [
        ["a", "b", "c"],
        ["b", "d"],
      ],
      60,
    );
    expect(fused.map((item) => item.id)).toEqual(["b", "a", "d", "c"]);
    expect(fused[0]!.rrf).toBeCloseTo(1 / 62 + 1 / 61, 12);
    expect(fused[0]!.ranks).toEqual([2, 1]);
    expect(fused[1]!.ranks).toEqual([1, null]);
  });

  it("normalises to 1.0 for an item ranked first everywhere, and by the rankings that contributed", () => {
    expect(reciprocalRankFusion([["x", "y"], ["x"]], 60)[0]).toMatchObject({ id: "x", score: 1 });
    // Found only by one of two retrievers: at most half the best possible score.
    const split = reciprocalRankFusion([["x"], ["y"]], 60);
    expect(split.map((item) => item.score)).toEqual([0.5, 0.5]);
    // An empty ranking (e.g. no keyword terms) does not count against the others.
    expect(reciprocalRankFusion([["x", "y"], []], 60)[0]!.score).toBe(1);
    const second = reciprocalRankFusion([["x", "y"]], 10)[1]!;
    expect(second.score).toBeCloseTo(11 / 12, 12);
  });

  it("breaks ties by first appearance and ignores duplicates within one ranking", () => {
    expect(
      reciprocalRankFusion(
        [
          ["a", "b"],
          ["b", "a"],
        ],
        60,
      ).map((item) => item.id),
    ).toEqual(["a", "b"]);
    const fused = reciprocalRankFusion([["a", "a", "b"]], 60);
    expect(fused.map((item) => [item.id, item.ranks[0]])).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
  });

  it("weights rankings: a down-weighted retriever's first pick yields to the other's", () => {
    const fused = reciprocalRankFusion(
      [
        ["dense-top", "shared"],
        ["keyword-top", "shared"],
      ],
      60,
      [0.5, 1],
    );
    expect(fused.map((item) => item.id)).toEqual(["shared", "keyword-top", "dense-top"]);
    expect(fused[1]!.rrf).toBeCloseTo(1 / 61, 12);
    expect(fused[2]!.rrf).toBeCloseTo(0.5 / 61, 12);
    // Normalised by the weighted best: first in the keyword ranking only = 1 / 1.5.
    expect(fused[1]!.score).toBeCloseTo(1 / 1.5, 12);
    expect(() => reciprocalRankFusion([["a"]], 60, [0])).toThrow(RangeError);
    expect(() => reciprocalRankFusion([["a"], ["b"]], 60, [1])).toThrow(RangeError);
  });

  it("returns nothing for no candidates (error-free)", () => {
    expect(reciprocalRankFusion([], 60)).toEqual([]);
    expect(reciprocalRankFusion([[], []], 60)).toEqual([]);
  });

  it("rejects a negative or non-finite k (error)", () => {
    expect(() => reciprocalRankFusion([["a"]], -1)).toThrow(RangeError);
    expect(() => reciprocalRankFusion([["a"]], Number.NaN)).toThrow(RangeError);
  });
});

describe("FTS5 query building (security)", () => {
  const PHRASES = /^"[^"]+"( OR "[^"]+")*$/;

  it("quotes every term, lower-cases, de-duplicates and drops stop-words (happy)", () => {
    expect(toFtsMatchExpression("Who discovered Penicillin? penicillin!")).toBe('"discovered" OR "penicillin"');
    expect(toFtsMatchExpression("Déjà vu, São Paulo 2016")).toBe('"déjà" OR "vu" OR "são" OR "paulo" OR "2016"');
  });

  it.each([
    ['"unbalanced', '"unbalanced"'],
    ["pen*", '"pen"'],
    ["NEAR(fire london, 3)", '"near" OR "fire" OR "london" OR "3"'],
    ["fire OR london", '"fire" OR "london"'],
    ["fire NOT london AND bakery", '"fire" OR "london" OR "bakery"'],
    ["text:fleming", '"text" OR "fleming"'],
    ["{text chunk}: mould", '"text" OR "chunk" OR "mould"'],
    ["^start + end - x", '"start" OR "end" OR "x"'],
    ["'); DROP TABLE chunks; --", '"drop" OR "table" OR "chunks"'],
  ])("neutralises FTS5 syntax in %j", (input, expected) => {
    const match = toFtsMatchExpression(input);
    expect(match).toBe(expected);
    expect(match).toMatch(PHRASES);
  });

  it("returns null for text with only punctuation or stop-words", () => {
    for (const input of ['"', "*", '""', "()", "((", ":", "-", "???", "the of and", "to be or not to be", "…  —  ·"]) {
      expect(toFtsMatchExpression(input), input).toBeNull();
    }
  });

  it(`sends at most ${MAX_FTS_TERMS} terms`, () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    expect(toFtsMatchExpression(words)!.split(" OR ")).toHaveLength(MAX_FTS_TERMS);
  });
});

describe("filter validation (error)", () => {
  const problems = (filters: unknown) => {
    const result = filtersSchema().safeParse(filters);
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  };

  it("accepts every operator, bare values and ranges (happy)", () => {
    expect(
      problems({
        lang: "en",
        year: { $gte: 1900, $lt: 2000 },
        topic: { $in: ["a", "b"] },
        x: { $nin: [1, true] },
        y: { $ne: false },
        z: { $gt: "m" },
        w: { $lte: 3 },
        v: { $eq: "q" },
      }),
    ).toEqual([]);
  });

  it.each([
    [{ lang: { $regex: "en" } }, /Unrecognized key: "\$regex"/],
    [{ lang: { $eq: "en", $ne: "de" } }, /cannot be combined/],
    [{ year: { $gt: 1, $gte: 2 } }, /cannot be combined/],
    [{ lang: { $in: [] } }, /at least one value/],
    [{ lang: { $in: "en" } }, /operators/],
    [{ lang: null }, /operators/],
    [{ lang: ["en"] }, /operators/],
    [{ lang: {} }, /needs an operator/],
    [{ flag: { $lt: true } }, /operators/],
    [{ "bad key": 1 }, /Invalid key|filter keys/],
    [{ "meta.nested": 1 }, /Invalid key|filter keys/],
    [{ $where: 1 }, /Invalid key|filter keys/],
    [{ collection: 5 }, /collection values must be strings/],
    [{ collection: "Not A Collection" }, /not a collection name/],
    [{ collection: { $in: Array.from({ length: 11 }, (_, i) => `c${i}`) } }, /at most 10 collections/],
    [{ document_id: { $in: [1, 2] } }, /document_id values must be strings/],
    [Object.fromEntries(Array.from({ length: MAX_FILTER_KEYS + 1 }, (_, i) => [`k${i}`, i])), /at most 10 filter keys/],
    // As JSON.parse makes it from a body: an own key, which zod's record would drop without a word.
    [JSON.parse('{"__proto__": "x"}'), /__proto__: `__proto__` is not a filter key/],
    [JSON.parse('{"lang": "en", "__proto__": {"$eq": "x"}}'), /__proto__: `__proto__` is not a filter key/],
  ])("rejects %j", (filters, message) => {
    const found = problems(filters);
    expect(found.length, JSON.stringify(found)).toBeGreaterThan(0);
    expect(found.join("\n")).toMatch(message);
  });
});

describe("filter push-down planning (happy)", () => {
  it("fans out over named collections and pushes indexed clauses down", () => {
    const plan = planFilters({ collection: { $in: ["history", "science", "history"] }, document_id: { $ne: "rosetta" } });
    expect(plan.collections).toEqual(["history", "science"]);
    expect(plan.vectorFilters).toEqual([
      { document_id: { $ne: "rosetta" }, collection: "history" },
      { document_id: { $ne: "rosetta" }, collection: "science" },
    ]);
    expect(plan.fullyPushedDown).toBe(true);
  });

  it("keeps clauses on properties without a metadata index for D1, and says so", () => {
    const plan = planFilters({ collection: "history", lang: "en" });
    expect(plan.vectorFilters).toEqual([{ collection: "history" }]);
    expect(plan.fullyPushedDown).toBe(false);
    expect(planFilters({ lang: "en" }).vectorFilters).toEqual([undefined]);
  });

  it("pushes down other indexed properties of the right type only", () => {
    const indexes = { collection: "string", year: "number" } as const;
    const plan = planFilters({ year: { $gte: 1900 }, collection: { $nin: ["history"] } }, indexes);
    expect(plan.collections).toBeNull();
    expect(plan.vectorFilters).toEqual([{ year: { $gte: 1900 }, collection: { $nin: ["history"] } }]);
    expect(plan.fullyPushedDown).toBe(true);
    expect(planFilters({ year: "1900" }, indexes).fullyPushedDown).toBe(false);
  });

  it("never pushes a negative or range test on a string Vectorize would truncate", () => {
    const long = "d".repeat(70);
    expect(planFilters({ document_id: { $ne: long } }).vectorFilters).toEqual([undefined]);
    expect(planFilters({ document_id: { $ne: long } }).fullyPushedDown).toBe(false);
    // Equality on a truncated prefix is a superset: safe to push, D1 checks the rest.
    expect(planFilters({ document_id: long }).vectorFilters).toEqual([{ document_id: { $eq: long } }]);
  });

  it("stays under Vectorize's 2 KiB filter limit", () => {
    const ids = Array.from({ length: 50 }, (_, i) => `document-${i}-${"x".repeat(30)}`);
    const plan = planFilters({ document_id: { $in: ids }, collection: "history" });
    for (const filter of plan.vectorFilters) expect(new TextEncoder().encode(JSON.stringify(filter)).byteLength).toBeLessThan(2048);
    expect(plan.fullyPushedDown).toBe(false);
  });
});

describe("small helpers (happy)", () => {
  it("cuts previews at the limit with an ellipsis, never inside a surrogate pair", () => {
    expect(preview("short", 500)).toBe("short");
    const cut = preview("x".repeat(600), 500);
    expect(cut).toHaveLength(500);
    expect(cut.endsWith("…")).toBe(true);
    const emoji = preview(`${"x".repeat(498)}😀tail`, 500);
    expect(emoji.length).toBeLessThanOrEqual(500);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it("maps with bounded concurrency, keeping order", async () => {
    let active = 0;
    let peak = 0;
    const result = await mapWithConcurrency([5, 1, 3, 2, 4], 2, async (n) => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, n));
      active -= 1;
      return n * 10;
    });
    expect(result).toEqual([50, 10, 30, 20, 40]);
    expect(peak).toBe(2);
  });
});
