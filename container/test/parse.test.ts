import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkResponseSchema, ParseResponseSchema } from "../../src/shared/origin-contract.ts";
import { encode, encryptedPdf, FACT, MEDIA, makeDocx, makePdf, threePagePdf } from "./helpers/files.ts";
import { type Origin, startOrigin } from "./helpers/origin.ts";
import { authHeaders, signToken } from "./helpers/token.ts";

const KIB = 1024;
const MAX_PAGES = 5;

/** The real origin process (remote embeddings that are never called: no model to load), with small parse limits. */
let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin({
    EMBEDDINGS_BACKEND: "openai",
    EMBEDDINGS_URL: "http://127.0.0.1:9/v1",
    EMBEDDINGS_MODEL: "unused",
    MAX_BODY_BYTES: String(64 * KIB),
    PARSE_MAX_BYTES: String(128 * KIB),
    PARSE_MAX_PAGES: String(MAX_PAGES),
  });
});
afterAll(() => origin?.stop());

async function postFile(bytes: Uint8Array, contentType: string | undefined, query = "") {
  const headers: Record<string, string> = { authorization: (await authHeaders("/v1/parse")).authorization! };
  if (contentType) headers["content-type"] = contentType;
  return fetch(`${origin.url}/v1/parse${query}`, { method: "POST", headers, body: new Uint8Array(bytes) });
}

async function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const problem = await response.json();
  expect(problem).toMatchObject({ status, code, request_id: expect.any(String), detail: expect.any(String) });
  return problem as { detail: string };
}

describe("POST /v1/parse over HTTP (the real process)", () => {
  it("happy: a 3-page PDF: its blocks are its pages, the fact's on page 3, the title from its metadata", async () => {
    const response = await postFile(await threePagePdf(), MEDIA.pdf);
    expect(response.status).toBe(200);
    const parsed = ParseResponseSchema.parse(await response.json());
    expect(parsed.format).toBe("pdf");
    expect(parsed.title).toBe("Widget Facts");
    expect(parsed.blocks.map((block) => block.page)).toEqual([1, 2, 3]);
    expect(parsed.blocks[2]!.text).toBe(FACT);
  });

  it("happy: parse then chunk: the chunk holding the fact says page 3", async () => {
    const parsed = ParseResponseSchema.parse(await (await postFile(await threePagePdf(), MEDIA.pdf)).json());
    const response = await fetch(`${origin.url}/v1/chunk`, {
      method: "POST",
      headers: await authHeaders("/v1/chunk"),
      body: JSON.stringify({ documents: [{ id: "facts.pdf", blocks: parsed.blocks }] }),
    });
    const chunked = ChunkResponseSchema.parse(await response.json());
    expect(chunked.documents[0]!.chunks.find((chunk) => chunk.text.includes("4417"))).toMatchObject({ page: 3 });
  });

  it("happy: application/octet-stream with ?filename= tells the type by the extension", async () => {
    const response = await postFile(await threePagePdf(), "application/octet-stream", "?filename=Widget%20Facts.pdf");
    expect(ParseResponseSchema.parse(await response.json())).toMatchObject({ format: "pdf", title: "Widget Facts" });
  });

  const refusals: Array<[string, () => Promise<[Uint8Array, string | undefined]>, number, string]> = [
    ["an encrypted PDF", async () => [await encryptedPdf(), MEDIA.pdf], 422, "PDF_ENCRYPTED"],
    ["a truncated PDF", async () => [(await threePagePdf()).slice(0, 900), MEDIA.pdf], 422, "FILE_CORRUPT"],
    ["a scanned PDF (no text layer)", async () => [await makePdf([null, null, null]), MEDIA.pdf], 422, "PDF_NO_TEXT_LAYER"],
    ["a PDF past PARSE_MAX_PAGES", async () => [await makePdf(["a", "b", "c", "d", "e", "f"]), MEDIA.pdf], 413, "PDF_TOO_MANY_PAGES"],
    ["a DOCX sent as a PDF", async () => [await makeDocx(), MEDIA.pdf], 415, "FILE_TYPE_MISMATCH"],
    ["a PDF sent as a DOCX", async () => [await threePagePdf(), MEDIA.docx], 415, "FILE_TYPE_MISMATCH"],
    ["a PDF sent as HTML", async () => [await threePagePdf(), MEDIA.html], 415, "FILE_TYPE_MISMATCH"],
    ["an image type", async () => [encode("GIF89a"), "image/gif"], 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["no type and no file name", async () => [encode("text"), undefined], 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["an empty body", async () => [new Uint8Array(0), MEDIA.text], 400, "VALIDATION_FAILED"],
    ["a body past PARSE_MAX_BYTES", async () => [new Uint8Array(129 * KIB).fill(0x61), MEDIA.text], 413, "PAYLOAD_TOO_LARGE"],
  ];
  for (const [name, make, status, code] of refusals) {
    it(`error: ${name} → ${status} ${code}`, async () => {
      const [bytes, type] = await make();
      await expectProblem(await postFile(bytes, type), status, code);
    });
  }

  it("happy: a file between the JSON limit and PARSE_MAX_BYTES is read (the route has its own limit)", async () => {
    const text = `${FACT}\n${"filler line of text\n".repeat(5000)}`; // ~100 KiB: over MAX_BODY_BYTES (64 KiB)
    const response = await postFile(encode(text), MEDIA.text);
    expect(ParseResponseSchema.parse(await response.json()).blocks[0]!.text).toBe(text);
  });

  it("security: no worker token → 401, and a token for another route → 401", async () => {
    const bytes = encode("text");
    expect((await fetch(`${origin.url}/v1/parse`, { method: "POST", headers: { "content-type": MEDIA.text }, body: bytes })).status).toBe(
      401,
    );
    const wrong = `Bearer ${await signToken({ path: "/v1/chunk" })}`;
    const response = await fetch(`${origin.url}/v1/parse`, {
      method: "POST",
      headers: { authorization: wrong, "content-type": MEDIA.text },
      body: bytes,
    });
    await expectProblem(response, 401, "TOKEN_INVALID");
  });

  it("security: the process survived every file above and logged no failure", async () => {
    expect(origin.child.exitCode).toBeNull();
    expect((await fetch(`${origin.url}/healthz`)).status).toBe(200);
    expect(origin.output()).not.toMatch(/"level":"error"/);
  });
});
