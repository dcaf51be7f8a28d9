import { describe, expect, it } from "vitest";
import { proseBlocks } from "../../src/shared/prose.ts";
import { composeAnswer } from "../src/generation/extractive.ts";

/**
 * The origin's extractive answer reads as prose: markdown tables, code, headings, list markers and
 * link syntax are not sentences. The worker's degraded answer has the same cases
 * (test/unit/extractive-answer.test.ts).
 */
const GUIDE_CHUNK = [
  "## Rotate an API key",
  "",
  "| command | what it does |",
  "| --- | --- |",
  "| `npx edge-rag keys create` | creates an API key and prints it |",
  "| `npx edge-rag keys revoke <id>` | revokes a key |",
  "",
  "To rotate an API key, create a new key with `npx edge-rag keys create`, move your clients to it, then revoke the old key.",
  "",
  "```sh",
  "npx edge-rag keys revoke erk_old # rotate the key now",
  "```",
  "",
  "- A revoked key stops working within seconds, everywhere.",
  "- See [the API reference](api.md) for **every** key route.",
].join("\n");
const context = (text: string, id = "c1") => ({ id, text });

describe("extractive answer over markdown (happy)", () => {
  it("answers with the prose sentence, cited, and nothing of the table, code or heading", () => {
    const answer = composeAnswer("How do I rotate an API key?", [context(GUIDE_CHUNK)], 256);
    expect(answer).toContain(
      "To rotate an API key, create a new key with npx edge-rag keys create, move your clients to it, then revoke the old key. [1]",
    );
    expect(answer).not.toMatch(/\||```|`|##|erk_old|\]\(/);
  });

  it("quotes a list item without its marker and a link as its text", () => {
    const answer = composeAnswer("Which routes does the API reference list for every key?", [context(GUIDE_CHUNK)], 256);
    expect(answer).toContain("See the API reference for every key route. [1]");
    expect(answer).not.toMatch(/(^|\s)- |\*\*|\]\(/);
  });

  it("takes the sentence from the context that has prose, and cites that context", () => {
    const table = "| key | rotate |\n| --- | --- |\n| rotate key | rotate the API key |";
    const answer = composeAnswer("How do I rotate an API key?", [context(table), context(GUIDE_CHUNK, "c2")], 256);
    expect(answer).toMatch(/then revoke the old key\. \[2\]/);
    expect(answer).not.toContain("|");
  });
});

describe("extractive answer over markdown (error)", () => {
  it("says it found no direct answer when the contexts hold no prose, quoting no table", () => {
    const answer = composeAnswer("How do I create a key?", [context("| `keys create` | creates a key |\n| --- | --- |")], 256);
    expect(answer).toBe("I could not find a direct answer in the documents.");
  });
});

describe("proseBlocks (the origin's copy)", () => {
  it("keeps paragraphs and list items, drops tables, code, headings, rules and markdown syntax", () => {
    expect(proseBlocks(GUIDE_CHUNK)).toEqual([
      "To rotate an API key, create a new key with npx edge-rag keys create, move your clients to it, then revoke the old key.",
      "A revoked key stops working within seconds, everywhere.",
      "See the API reference for every key route.",
    ]);
    // Scientific text is not markdown: brackets, comparisons and subscripts stay as written.
    const science = "A rise in [Ca(2+)](i) and [GHS-R](-/-) mice; CRP <or=3 mg/l and elevated >3 mg/l; Pa_{O_2} and 2 * 3.";
    expect(proseBlocks(science)).toEqual([science]);
    expect(proseBlocks("2001. Comparison of three management strategies.")).toEqual(["2001. Comparison of three management strategies."]);
    expect(proseBlocks("Revoke it with `npx edge-rag keys revoke <id>`, then <b>done</b>.")).toEqual([
      "Revoke it with npx edge-rag keys revoke <id>, then done.",
    ]);
  });
});
