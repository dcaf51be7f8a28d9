import { describe, expect, it } from "vitest";
import {
  extractiveAnswer,
  extractiveAnswerParts,
  NO_PROSE_ANSWER,
  NO_SOURCES_ANSWER,
  splitSentences,
} from "../../src/answer/extractive-answer";
import { proseBlocks } from "../../src/shared/prose";

/**
 * The edge's degraded (extractive) answer reads as prose: markdown tables, code, headings, list
 * markers and link syntax are not sentences. The origin's extractive generator has the same
 * cases (container/test/extractive-prose.test.ts).
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

describe("extractive answer (happy)", () => {
  it("answers a question about markdown documentation with its prose sentence, cited", () => {
    const answer = extractiveAnswer("How do I rotate an API key?", [{ text: GUIDE_CHUNK }]);
    expect(answer).toContain(
      "To rotate an API key, create a new key with npx edge-rag keys create, move your clients to it, then revoke the old key. [1]",
    );
    // No table cell, code line, heading or markdown syntax made it into the answer.
    expect(answer).not.toMatch(/\||```|`|^#|##|erk_old|\]\(/m);
  });

  it("quotes list items without their markers and links as their text", () => {
    const answer = extractiveAnswer("Which routes does the API reference list for every key?", [{ text: GUIDE_CHUNK }]);
    expect(answer).toContain("See the API reference for every key route. [1]");
    expect(answer).not.toMatch(/(^|\s)- |\*\*|\]\(/);
  });
});

describe("extractive answer (error)", () => {
  it("says so, citing the top source, when the sources hold no prose at all", () => {
    const tableOnly = "| command | what it does |\n| --- | --- |\n| `keys create` | creates a key |";
    expect(extractiveAnswer("How do I create a key?", [{ text: tableOnly }, { text: "```\nkeys create\n```" }])).toBe(NO_PROSE_ANSWER);
  });
});

describe("proseBlocks", () => {
  it("keeps paragraphs and list items as blocks, drops tables, code, headings and rules", () => {
    expect(proseBlocks(GUIDE_CHUNK)).toEqual([
      "To rotate an API key, create a new key with npx edge-rag keys create, move your clients to it, then revoke the old key.",
      "A revoked key stops working within seconds, everywhere.",
      "See the API reference for every key route.",
    ]);
    expect(proseBlocks("Title\n=====\n\nBody text here.\n\n---\n\n    indented code\n\n> Quoted *advice* and _more_.")).toEqual([
      "Body text here.",
      "Quoted advice and more.",
    ]);
  });

  it("handles a chunk cut out of a table or a list, and leaves plain text alone", () => {
    expect(proseBlocks("| `x` | y |\n| z | w |\nThen a sentence follows.")).toEqual(["Then a sentence follows."]);
    expect(proseBlocks("2. second step\n3. third step")).toEqual(["second step", "third step"]);
    const plain = "Penicillin was discovered by Alexander Fleming in 1928. It changed medicine.";
    expect(proseBlocks(plain)).toEqual([plain]);
    // Scientific text is not markdown: brackets, comparisons and subscripts stay as written.
    const science = "A rise in [Ca(2+)](i) and [GHS-R](-/-) mice; CRP <or=3 mg/l and elevated >3 mg/l; Pa_{O_2} and 2 * 3.";
    expect(proseBlocks(science)).toEqual([science]);
    expect(proseBlocks("2001. Comparison of three management strategies.")).toEqual(["2001. Comparison of three management strategies."]);
    // Code keeps its text verbatim, angle brackets included; HTML outside code is dropped.
    expect(proseBlocks("Revoke it with `npx edge-rag keys revoke <id>`, then <b>done</b>.")).toEqual([
      "Revoke it with npx edge-rag keys revoke <id>, then done.",
    ]);
    expect(proseBlocks("snake_case_name and 2 * 3 * 4 stay as they are")).toEqual(["snake_case_name and 2 * 3 * 4 stay as they are"]);
  });
});

describe("edge extractive answer (happy)", () => {
  it("cites the sentences that share the question's terms, with 1-based source numbers", () => {
    const sources = [
      { text: "Honey bees tell their nestmates where nectar can be found by performing the waggle dance. Karl von Frisch decoded it." },
      {
        text: "In September 1928 Alexander Fleming noticed a mould that had killed the surrounding bacteria. He named the substance penicillin.",
      },
    ];
    const answer = extractiveAnswer("Who discovered penicillin?", sources);
    expect(answer).toContain("penicillin");
    expect(answer).toMatch(/\[2\]/);
    expect(answer).not.toMatch(/\[3\]/);
  });

  it("falls back to the top source's first sentence when nothing matches, and says when there are no sources", () => {
    expect(extractiveAnswerParts("zzz qqq", [{ text: "First sentence here. Second one." }])).toEqual(["First sentence here. [1]"]);
    expect(extractiveAnswer("anything", [])).toBe(NO_SOURCES_ANSWER);
  });

  it("splits sentences without breaking numbers or initials", () => {
    expect(splitSentences("It rose 5.9 metres. Then it fell!  Was it 3? yes.")).toEqual([
      "It rose 5.9 metres.",
      "Then it fell!",
      "Was it 3? yes.",
    ]);
  });
});
