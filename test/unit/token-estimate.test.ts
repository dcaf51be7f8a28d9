import { describe, expect, it } from "vitest";
import { estimateTokens, fitParts } from "../../src/answer/token-estimate";

/** The edge's token estimate, and how it holds the edge's own (extractive) answer to max_tokens. */
describe("fitParts (happy)", () => {
  const parts = ["The fire began in a bakery on Pudding Lane [1].", "It burned for four days [2]."];

  it("keeps every part that fits, whole", () => {
    expect(fitParts(parts, 1000)).toEqual(parts);
    expect(fitParts(parts, estimateTokens(parts[0]!))).toEqual([parts[0]]);
  });

  it("cuts the first part at a word boundary when not even it fits, never to nothing", () => {
    const [cut] = fitParts(parts, 4);
    expect(cut).toBe("The fire began");
    expect(estimateTokens(cut!)).toBeLessThanOrEqual(4);
    expect(fitParts(parts, 1)).toEqual(["The"]);
    expect(fitParts([], 5)).toEqual([]);
  });
});
