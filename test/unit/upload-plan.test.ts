import { describe, expect, it } from "vitest";
import { FILE_LIMITS, INGEST_LIMITS } from "../../src/ingest/document-input";
import {
  FILE_BYTES,
  filePiece,
  lineRuns,
  piecesOf,
  REQUEST_DOCUMENTS,
  REQUEST_FILES,
  REQUEST_JSON_LINES_BYTES,
  requests,
  UnsendableLine,
  utf8Length,
} from "../../src/ingest/upload-plan";

/** The clients' upload plan (the console's, `edge-rag ingest`'s): every request within POST /v1/documents/files' limits, JSON Lines line numbers kept. */
describe("upload plan (unit)", () => {
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

  it("cuts streamed lines into unpadded runs for the CLI: each run's first line, at most `documents` documents, blank lines kept", async () => {
    async function* streamed() {
      yield* ['{"id":"a","text":"1"}', "", '{"id":"b","text":"2"}', '{"id":"c","text":"3"}', "", "", '{"id":"d","text":"4"}', ""];
    }
    const runs = [];
    for await (const run of lineRuns(streamed(), { documents: 2 })) runs.push(run);
    expect(runs).toEqual([
      { start: 0, text: '{"id":"a","text":"1"}\n\n{"id":"b","text":"2"}', documents: 2 },
      // The server's line 4 of this run is the file's line 3 + 4 = 7.
      { start: 3, text: '{"id":"c","text":"3"}\n\n\n{"id":"d","text":"4"}', documents: 2 },
      // The last line is blank: a run of no document is not sent.
    ]);
    // Bytes: a run holds at most REQUEST_JSON_LINES_BYTES, each line counted with its newline.
    const line = `{"id":"x","text":"${"é".repeat(1024 * 1024)}"}`;
    const sizes = [];
    for await (const run of lineRuns([line, line, line, line, line, line])) sizes.push(run.documents);
    expect(sizes).toEqual([4, 2]);
    const tooLong = async () => {
      for await (const _ of lineRuns(["{}", "x".repeat(REQUEST_JSON_LINES_BYTES)]));
    };
    await expect(tooLong()).rejects.toThrow(UnsendableLine);
    await expect(tooLong()).rejects.toThrow(/line 2 is more than/);
  });

  it("plans files the CLI describes (a name and a size) as a browser's File, at most `documents` a request", () => {
    const files = Array.from({ length: 7 }, (_, i) => ({ name: `dir/n${i}.md`, size: 100, path: `/x/dir/n${i}.md` }));
    const pieces = files.map((file) => filePiece(file)).flatMap((piece) => (typeof piece === "string" ? [] : [piece]));
    expect([...requests(pieces, { documents: 3 })].map((request) => request.map((piece) => piece.file.path))).toEqual([
      ["/x/dir/n0.md", "/x/dir/n1.md", "/x/dir/n2.md"],
      ["/x/dir/n3.md", "/x/dir/n4.md", "/x/dir/n5.md"],
      ["/x/dir/n6.md"],
    ]);
    // A cap above the route's own is the route's.
    expect([...requests(pieces, { documents: 5000 })]).toHaveLength(1);
    expect(filePiece({ name: "big.pdf", size: FILE_BYTES + 1 })).toMatch(/at most 25 MiB/);
    expect(filePiece({ name: "empty.pdf", size: 0 })).toBe("the file is empty");
  });

  it("counts UTF-8 bytes as TextEncoder writes them", () => {
    for (const text of ["", "ascii", "é", "€", "😀", "a\ud800b", "\udc00", "mixed é€😀 text"])
      expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });
});
