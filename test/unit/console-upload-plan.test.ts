import { describe, expect, it } from "vitest";
import { FILE_BYTES, piecesOf, REQUEST_DOCUMENTS, REQUEST_FILES, REQUEST_JSON_LINES_BYTES, requests } from "../../src/console/upload-plan";
import { FILE_LIMITS, INGEST_LIMITS } from "../../src/ingest/document-input";

/** The console's upload plan: every request within POST /v1/documents/files' limits, JSON Lines line numbers kept. */
describe("console upload plan (unit)", () => {
  it("stays within the route's limits", () => {
    expect(REQUEST_FILES).toBe(FILE_LIMITS.maxFiles);
    expect(FILE_BYTES).toBe(FILE_LIMITS.maxFileBytes);
    expect(REQUEST_DOCUMENTS).toBe(INGEST_LIMITS.maxDocuments);
    expect(REQUEST_JSON_LINES_BYTES).toBeLessThan(FILE_LIMITS.maxJsonLinesBytes);
  });

  it("cuts a long JSON Lines file into runs of at most 1,000 lines, each keeping the file's name and line numbers", async () => {
    const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ id: `d${i}`, text: `line ${i + 1}` }));
    const pieces = await piecesOf(new File([lines.join("\n")], "big.jsonl"));
    if (typeof pieces === "string") throw new Error(pieces);
    expect(pieces.map((piece) => piece.documents)).toEqual([1000, 1000, 500]);
    for (const piece of pieces) expect(piece.file.name).toBe("big.jsonl");
    // The second part's first line is the file's line 1001.
    const second = (await pieces[1]!.file.text()).split("\n");
    expect(second.slice(0, 1000).every((line) => line === "")).toBe(true);
    expect(JSON.parse(second[1000]!)).toEqual({ id: "d1000", text: "line 1001" });
    // Parts of one file never share a request: their ids would clash.
    expect([...requests(pieces)].map((request) => request.length)).toEqual([1, 1, 1]);
  });

  it("packs files into requests by count, bytes and documents; refuses empty and oversized files", async () => {
    const small = Array.from({ length: 45 }, (_, i) => new File(["# Note\n\nText."], `n${i}.md`));
    const pieces = (await Promise.all(small.map(piecesOf))).flatMap((piece) => (typeof piece === "string" ? [] : piece));
    expect([...requests(pieces)].map((request) => request.length)).toEqual([20, 20, 5]);
    expect(await piecesOf(new File([], "empty.md"))).toBe("the file is empty");
    expect(await piecesOf(new File([new Uint8Array(FILE_BYTES + 1)], "huge.pdf"))).toMatch(/a file may have at most 25 MiB/);
    // A gzipped JSON Lines file goes alone: its lines are only known once inflated.
    const gz = await piecesOf(new File([new Uint8Array(10)], "lines.jsonl.gz"));
    if (typeof gz === "string") throw new Error(gz);
    expect([...requests([pieces[0]!, ...gz, pieces[1]!])].map((request) => request.length)).toEqual([1, 1, 1]);
  });
});
