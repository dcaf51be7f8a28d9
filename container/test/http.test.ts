import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChunkResponseSchema,
  CondenseResponseSchema,
  EmbedResponseSchema,
  GenerateDoneSchema,
  GenerateResponseSchema,
  IngestResponseSchema,
  ParseResponseSchema,
  textOfBlocks,
} from "../../src/shared/origin-contract.ts";
import { bombPdf, encode, encryptedPdf, FACT, MEDIA, makeDocx, makePdf, threePagePdf } from "./helpers/files.ts";
import { type Origin, startOrigin, TEST_SECRET } from "./helpers/origin.ts";
import { authHeaders, signToken } from "./helpers/token.ts";

/** The real origin process with its default backends (USE lite + extractive), over real HTTP, with small parse limits. */
let origin: Origin;
const PARSE_MAX_BYTES = 512 * 1024;
const PARSE_PDF_MAX_MEMORY_BYTES = 32 * 1024 * 1024;
beforeAll(async () => {
  origin = await startOrigin({
    MAX_BODY_BYTES: String(256 * 1024),
    PARSE_MAX_BYTES: String(PARSE_MAX_BYTES),
    PARSE_MAX_PAGES: "5",
    PARSE_PDF_MAX_MEMORY_BYTES: String(PARSE_PDF_MAX_MEMORY_BYTES),
  });
});
afterAll(() => origin?.stop());

const post = async (path: string, body: unknown, headers?: Record<string, string>) =>
  fetch(`${origin.url}${path}`, {
    method: "POST",
    headers: headers ?? (await authHeaders(path)),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

async function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const problem = await response.json();
  expect(problem).toMatchObject({ status, code, request_id: response.headers.get("x-request-id") });
  expect(problem.type).toEqual(expect.any(String));
  expect(problem.title).toEqual(expect.any(String));
  expect(problem.detail).toEqual(expect.any(String));
  return problem;
}

/** Parses a text/event-stream body into its events. */
async function readEvents(response: Response) {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim())
    .map((block) => ({
      event: block.match(/^event: (.*)$/m)?.[1],
      data: JSON.parse(block.match(/^data: (.*)$/m)![1]!),
    }));
}

describe("probes and metrics", () => {
  it("happy: /healthz and /readyz are open and report ok/ready", async () => {
    const health = await fetch(`${origin.url}/healthz`);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${origin.url}/readyz`);
    expect(ready.status).toBe(200);
    // The open probe names no backend or model (issue 11): only what passed.
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { embeddings: { ok: true }, generation: { ok: true }, shutdown: { ok: true } },
    });
  });

  it("happy: GET /v1/readyz with a worker token names the backends, models and dimensions", async () => {
    const ready = await fetch(`${origin.url}/v1/readyz`, {
      // As the worker probes it: for no tenant.
      headers: { authorization: `Bearer ${await signToken({ path: "/v1/readyz", tenant: null })}` },
    });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      checks: { embeddings: { ok: true, backend: "use", dimensions: 512 }, generation: { ok: true, backend: "extractive" } },
    });
  });

  it("security: GET /v1/readyz needs a worker token for that very route", async () => {
    await expectProblem(await fetch(`${origin.url}/v1/readyz`), 401, "TOKEN_MISSING");
    const forEmbed = await signToken({ path: "/v1/embed" });
    await expectProblem(await fetch(`${origin.url}/v1/readyz`, { headers: { authorization: `Bearer ${forEmbed}` } }), 401, "TOKEN_INVALID");
  });

  it("happy: x-request-id is echoed when sane and replaced when not", async () => {
    const echoed = await fetch(`${origin.url}/healthz`, { headers: { "x-request-id": "edge-req_42" } });
    expect(echoed.headers.get("x-request-id")).toBe("edge-req_42");
    const replaced = await fetch(`${origin.url}/healthz`, { headers: { "x-request-id": "bad id<script>" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("error: unknown routes are 404 problems", async () => {
    await expectProblem(await fetch(`${origin.url}/v2/nothing`), 404, "NOT_FOUND");
  });
});

describe("auth", () => {
  const embedWith = async (authorization?: string) =>
    post(
      "/v1/embed",
      { inputs: ["x"], kind: "query" },
      {
        "content-type": "application/json",
        ...(authorization ? { authorization } : {}),
      },
    );

  it("happy: a fresh worker token is accepted", async () => {
    expect((await embedWith(`Bearer ${await signToken()}`)).status).toBe(200);
  });

  it("security: no token → 401 TOKEN_MISSING with a Bearer challenge", async () => {
    const response = await embedWith();
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    await expectProblem(response, 401, "TOKEN_MISSING");
  });

  it("security: an expired token → 401 TOKEN_EXPIRED", async () => {
    const token = await signToken({ issuedAt: -100, expiresIn: 50 });
    await expectProblem(await embedWith(`Bearer ${token}`), 401, "TOKEN_EXPIRED");
  });

  const invalid: [string, () => Promise<string>][] = [
    ["signed with another secret", () => signToken({ secret: "another-secret-0123456789abcdef-0123" })],
    ["wrong audience", () => signToken({ audience: "worker" })],
    ["wrong issuer", () => signToken({ issuer: "someone-else" })],
    ["lives longer than 60 seconds", () => signToken({ expiresIn: 120 })],
    ["for another route (audience origin:/v1/generate)", () => signToken({ path: "/v1/generate" })],
    ["with the old route-less audience", () => signToken({ audience: "origin" })],
    ["without a tenant claim", () => signToken({ tenant: null })],
    ["with a tenant that is not a tenant id", () => signToken({ tenant: "../other tenant" })],
    ["without a jti", () => signToken({ jti: null })],
    ["issued in the future", () => signToken({ issuedAt: 600 })],
    ["HS512 instead of HS256", () => signToken({ alg: "HS512" })],
    [
      "alg none",
      async () => {
        const [, payload] = (await signToken()).split(".");
        return `${Buffer.from('{"alg":"none"}').toString("base64url")}.${payload}.`;
      },
    ],
    ["garbage", async () => "not.a.jwt"],
  ];
  for (const [name, make] of invalid) {
    it(`security: a token ${name} → 401 TOKEN_INVALID`, async () => {
      const response = await embedWith(`Bearer ${await make()}`);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
      await expectProblem(response, 401, "TOKEN_INVALID");
    });
  }

  it("security: a token already used (same jti) within its lifetime → 401 TOKEN_REPLAYED", async () => {
    const token = await signToken();
    expect((await embedWith(`Bearer ${token}`)).status).toBe(200);
    const replay = await embedWith(`Bearer ${token}`);
    expect(replay.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
    await expectProblem(replay, 401, "TOKEN_REPLAYED");
    // A fresh token (a new jti) for the same route still works.
    expect((await embedWith(`Bearer ${await signToken()}`)).status).toBe(200);
  });

  it("happy: the access line names the call's tenant, never the token", async () => {
    expect((await embedWith(`Bearer ${await signToken({ tenant: "tenant-logged" })}`)).status).toBe(200);
    await expect.poll(() => origin.output()).toMatch(/"msg":"worker call".*"tenant":"tenant-logged"/);
  });

  it("security: a non-Bearer scheme → 401 TOKEN_INVALID", async () => {
    await expectProblem(await embedWith(`Basic ${Buffer.from("a:b").toString("base64")}`), 401, "TOKEN_INVALID");
  });

  it("security: an unauthenticated body is never read (no 413 before 401)", async () => {
    const response = await post("/v1/embed", "x".repeat(300 * 1024), { "content-type": "application/json" });
    await expectProblem(response, 401, "TOKEN_MISSING");
  });
});

describe("POST /v1/embed", () => {
  it("happy: 512-d unit vectors from the real model, semantically ordered", async () => {
    const response = await post("/v1/embed", {
      inputs: [
        "How many points did the Panthers defense surrender?",
        "The Panthers defense gave up just 308 points.",
        "Photosynthesis happens in chloroplasts.",
      ],
      kind: "query",
    });
    expect(response.status).toBe(200);
    const body = EmbedResponseSchema.parse(await response.json());
    expect(body).toMatchObject({ model: "universal-sentence-encoder-lite", dimensions: 512 });
    const [q, relevant, unrelated] = body.vectors as [number[], number[], number[]];
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    expect(dot(q, q)).toBeCloseTo(1, 4);
    expect(dot(q, relevant)).toBeGreaterThan(dot(q, unrelated));
  });

  it("happy: 256 inputs (the maximum) in one call, and concurrent calls all answered", async () => {
    const inputs = Array.from({ length: 256 }, (_, i) => `sentence number ${i}`);
    const [big, ...small] = await Promise.all([
      post("/v1/embed", { inputs, kind: "passage" }),
      ...Array.from({ length: 16 }, (_, i) => post("/v1/embed", { inputs: [`query ${i}`], kind: "query" })),
    ]);
    expect((await big!.json()).vectors).toHaveLength(256);
    for (const r of small) expect((await r.json()).vectors).toHaveLength(1);
  });

  const bad: [string, unknown][] = [
    ["no inputs", { inputs: [], kind: "query" }],
    ["257 inputs", { inputs: Array.from({ length: 257 }, () => "x"), kind: "query" }],
    ["an empty input", { inputs: [""], kind: "query" }],
    ["an input over 8192 chars", { inputs: ["x".repeat(8193)], kind: "query" }],
    ["a non-string input", { inputs: [42], kind: "query" }],
    ["a bad kind", { inputs: ["x"], kind: "document" }],
    ["a missing kind", { inputs: ["x"] }],
    ["an unknown field", { inputs: ["x"], kind: "query", normalize: true }],
    ["an array body", [1, 2]],
  ];
  for (const [name, body] of bad) {
    it(`error: ${name} → 400 VALIDATION_FAILED`, async () => {
      await expectProblem(await post("/v1/embed", body), 400, "VALIDATION_FAILED");
    });
  }

  it("error: broken JSON → 400, a non-JSON content type → 415, an oversized body → 413", async () => {
    await expectProblem(await post("/v1/embed", '{"inputs": ['), 400, "VALIDATION_FAILED");
    await expectProblem(
      await post("/v1/embed", "inputs=x", await authHeaders("/v1/embed", { "content-type": "text/plain" })),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    const huge = { inputs: Array.from({ length: 40 }, () => "y".repeat(8000)), kind: "passage" };
    await expectProblem(await post("/v1/embed", huge), 413, "PAYLOAD_TOO_LARGE");
  });
});

describe("POST /v1/chunk and /v1/ingest", () => {
  const source = [
    "Ünïcödé façade — “quotes”. Emoji 😀🎉 take two UTF-16 units each.",
    "日本語の文章です。これはテストです。",
    "The Panthers defense gave up just 308 points, ranking sixth in the league.",
  ]
    .join("\n\n")
    .repeat(8);

  it("happy: chunks carry offsets with text === source.slice(start, end), non-ASCII included", async () => {
    const response = await post("/v1/chunk", {
      documents: [
        { id: "doc-1", text: source },
        { id: "doc-2", text: "Short." },
      ],
      chunk_size: 40,
      chunk_overlap: 8,
    });
    expect(response.status).toBe(200);
    const body = ChunkResponseSchema.parse(await response.json());
    expect(body.documents.map((d) => d.id)).toEqual(["doc-1", "doc-2"]);
    expect(body.documents[0]!.chunks.length).toBeGreaterThan(3);
    for (const c of body.documents[0]!.chunks) expect(c.text).toBe(source.slice(c.start, c.end));
    expect(body.documents[1]!.chunks).toEqual([{ index: 0, text: "Short.", start: 0, end: 6 }]);
  });

  it("happy: the configured chunk size applies when the body gives none", async () => {
    const body = ChunkResponseSchema.parse(await (await post("/v1/chunk", { documents: [{ id: "d", text: source }] })).json());
    expect(body.documents[0]!.chunks.length).toBeLessThan(6); // CHUNK_SIZE 256 tokens
  });

  it("happy: ingest returns every chunk with its passage vector", async () => {
    const response = await post("/v1/ingest", { documents: [{ id: "doc-1", text: source }], chunk_size: 64, chunk_overlap: 0 });
    const body = IngestResponseSchema.parse(await response.json());
    expect(body).toMatchObject({ model: "universal-sentence-encoder-lite", dimensions: 512 });
    const chunks = body.documents[0]!.chunks;
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      expect(c.vector).toHaveLength(512);
      expect(c.text).toBe(source.slice(c.start, c.end));
    }
  });

  it("happy: a document of located blocks: every chunk (and its vector) carries its block's page or section", async () => {
    const blocks = [
      { text: source.slice(0, 600), page: 1 },
      { text: "The zebra code is 4417.", page: 3 },
      { text: "Upgrades need a restart.", section: ["Installation", "Upgrades"] },
    ];
    const text = textOfBlocks(blocks);
    const body = { documents: [{ id: "located", blocks }], chunk_size: 40, chunk_overlap: 8 };
    const chunked = ChunkResponseSchema.parse(await (await post("/v1/chunk", body)).json());
    const ingested = IngestResponseSchema.parse(await (await post("/v1/ingest", body)).json());
    for (const chunks of [chunked.documents[0]!.chunks, ingested.documents[0]!.chunks]) {
      expect(chunks.filter((c) => c.page === 1).length).toBeGreaterThan(1);
      expect(chunks.at(-2)).toMatchObject({ text: "The zebra code is 4417.", page: 3 });
      expect(chunks.at(-1)).toMatchObject({ text: "Upgrades need a restart.", section: ["Installation", "Upgrades"] });
      expect(chunks.at(-1)).not.toHaveProperty("page");
      for (const c of chunks) expect(c.text).toBe(text.slice(c.start, c.end));
    }
    for (const c of ingested.documents[0]!.chunks) expect(c.vector).toHaveLength(512);
  });

  const bad: [string, unknown][] = [
    ["no documents", { documents: [] }],
    ["a document with both text and blocks", { documents: [{ id: "a", text: "x", blocks: [{ text: "x" }] }] }],
    ["a document with neither text nor blocks", { documents: [{ id: "a" }] }],
    ["no blocks", { documents: [{ id: "a", blocks: [] }] }],
    ["an empty block", { documents: [{ id: "a", blocks: [{ text: "" }] }] }],
    ["page 0", { documents: [{ id: "a", blocks: [{ text: "x", page: 0 }] }] }],
    ["an empty section path", { documents: [{ id: "a", blocks: [{ text: "x", section: [] }] }] }],
    ["101 documents", { documents: Array.from({ length: 101 }, (_, i) => ({ id: `${i}`, text: "x" })) }],
    ["a document without id", { documents: [{ text: "x" }] }],
    ["an unknown document field", { documents: [{ id: "a", text: "x", title: "t" }] }],
    ["overlap >= size", { documents: [{ id: "a", text: "x" }], chunk_size: 32, chunk_overlap: 32 }],
    ["a fractional size", { documents: [{ id: "a", text: "x" }], chunk_size: 32.5 }],
  ];
  for (const [name, body] of bad) {
    it(`error: ${name} → 400 on both routes`, async () => {
      await expectProblem(await post("/v1/chunk", body), 400, "VALIDATION_FAILED");
      await expectProblem(await post("/v1/ingest", body), 400, "VALIDATION_FAILED");
    });
  }
});

describe("POST /v1/generate", () => {
  const contexts = [
    { id: "c1", text: "Cats are small domesticated mammals. They sleep a lot." },
    { id: "c2", text: "The Broncos beat the Panthers. The Panthers defense gave up just 308 points, ranking sixth in the league." },
  ];
  const query = "How many points did the Panthers defense give up?";

  it("happy: an answer that cites the context it comes from", async () => {
    const response = await post("/v1/generate", { query, contexts });
    const body = GenerateResponseSchema.parse(await response.json());
    expect(body.answer).toContain("308");
    expect(body.citations).toEqual([2]);
    expect(body.answer).toContain("[2]");
    expect(body.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it("happy: streamed tokens concatenate to the same answer, then a done event", async () => {
    const plain = GenerateResponseSchema.parse(await (await post("/v1/generate", { query, contexts })).json());
    const response = await post("/v1/generate", { query, contexts, stream: true });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = await readEvents(response);
    const tokens = events.filter((e) => e.event === "token");
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.map((e) => e.data.text).join("")).toBe(plain.answer);
    const done = events.at(-1)!;
    expect(done.event).toBe("done");
    expect(GenerateDoneSchema.parse(done.data)).toEqual({
      model: plain.model,
      citations: plain.citations,
      usage: plain.usage,
      finish_reason: "stop",
    });
  });

  it("happy: max_tokens cuts the extractive answer; a temperature is accepted and changes nothing", async () => {
    const long = [{ id: "c1", text: `${contexts[1]!.text} ${"The Panthers defense gave up few points all season long. ".repeat(8)}` }];
    const full = GenerateResponseSchema.parse(await (await post("/v1/generate", { query, contexts: long })).json());
    const cut = GenerateResponseSchema.parse(await (await post("/v1/generate", { query, contexts: long, max_tokens: 8 })).json());
    expect(cut.usage?.completion_tokens).toBeLessThanOrEqual(8);
    expect(full.usage?.completion_tokens).toBeGreaterThan(8);
    expect(full.answer.startsWith(cut.answer)).toBe(true);
    // It says which one it cut (OpenAI's finish_reason).
    expect([cut.finish_reason, full.finish_reason]).toEqual(["length", "stop"]);
    const hot = GenerateResponseSchema.parse(await (await post("/v1/generate", { query, contexts: long, temperature: 1.5 })).json());
    expect(hot.answer).toBe(full.answer);
  });

  it("happy: with no contexts the answer says it cannot answer from the documents", async () => {
    const body = GenerateResponseSchema.parse(await (await post("/v1/generate", { query, contexts: [] })).json());
    expect(body.answer).toMatch(/cannot answer/i);
    expect(body.citations).toEqual([]);
  });

  const bad: [string, unknown][] = [
    ["no query", { contexts }],
    ["an empty query", { query: "", contexts }],
    ["51 contexts", { query, contexts: Array.from({ length: 51 }, (_, i) => ({ id: `${i}`, text: "t" })) }],
    ["a context without text", { query, contexts: [{ id: "a" }] }],
    ["a non-boolean stream", { query, contexts, stream: "yes" }],
    ["max_tokens 0", { query, contexts, max_tokens: 0 }],
    ["max_tokens above the most (8192)", { query, contexts, max_tokens: 8193 }],
    ["a temperature above 2", { query, contexts, temperature: 2.5 }],
    ["a negative temperature", { query, contexts, temperature: -0.1 }],
    ["an unknown field", { query, contexts, top_p: 0.2 }],
  ];
  for (const [name, body] of bad) {
    it(`error: ${name} → 400`, async () => {
      await expectProblem(await post("/v1/generate", body), 400, "VALIDATION_FAILED");
    });
  }
});

describe("POST /v1/condense (no LLM configured: the offline rules)", () => {
  const history = [
    { role: "user", content: "How do I rotate an API key?" },
    { role: "assistant", content: "Create a new key, move the clients, then revoke the old key [1]." },
  ];

  it("happy: an elliptical follow-up carries the earlier question's key terms", async () => {
    const response = await post("/v1/condense", { history, question: "How long until the old one stops working?" });
    expect(response.status).toBe(200);
    const body = CondenseResponseSchema.parse(await response.json());
    expect(body.method).toBe("rules");
    expect(body.question).toMatch(/^How long until the old one stops working\? \(.*rotate.*API.*key.*\)$/);
  });

  it("happy: a question that stands alone is kept as written", async () => {
    const body = CondenseResponseSchema.parse(
      await (await post("/v1/condense", { history, question: "Which roles may ingest documents into a collection?" })).json(),
    );
    expect(body).toEqual({ question: "Which roles may ingest documents into a collection?", method: "none" });
  });

  const bad: [string, unknown][] = [
    ["no history", { question: "and then?" }],
    ["an empty history", { history: [], question: "and then?" }],
    ["a system turn", { history: [{ role: "system", content: "x" }], question: "and then?" }],
    ["an empty question", { history, question: "" }],
  ];
  for (const [name, body] of bad) {
    it(`error: ${name} → 400`, async () => {
      await expectProblem(await post("/v1/condense", body), 400, "VALIDATION_FAILED");
    });
  }
});

describe("POST /v1/parse (a file's bytes → located text; the formats in detail: parsing-conformance.test.ts)", () => {
  const postFile = async (bytes: Uint8Array, contentType: string | undefined, query = "") => {
    const headers: Record<string, string> = { authorization: `Bearer ${await signToken({ path: "/v1/parse" })}` };
    if (contentType) headers["content-type"] = contentType;
    return fetch(`${origin.url}/v1/parse${query}`, { method: "POST", headers, body: new Uint8Array(bytes) });
  };

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
    ["a body past PARSE_MAX_BYTES", async () => [new Uint8Array(PARSE_MAX_BYTES + 1).fill(0x61), MEDIA.text], 413, "PAYLOAD_TOO_LARGE"],
  ];
  for (const [name, make, status, code] of refusals) {
    it(`error: ${name} → ${status} ${code}`, async () => {
      const [bytes, type] = await make();
      await expectProblem(await postFile(bytes, type), status, code);
    });
  }

  it("error: a PDF decompression bomb (0.1 MiB inflating to 128 MiB) → 413 PDF_EXPANDS_TOO_FAR; the origin answers and reads PDFs right after", async () => {
    await expectProblem(await postFile(await bombPdf(4 * PARSE_PDF_MAX_MEMORY_BYTES), MEDIA.pdf), 413, "PDF_EXPANDS_TOO_FAR");
    expect((await fetch(`${origin.url}/healthz`)).status).toBe(200);
    const parsed = ParseResponseSchema.parse(await (await postFile(await threePagePdf(), MEDIA.pdf)).json());
    expect(parsed.blocks[2]!.text).toBe(FACT);
  });

  it("happy: a file between the JSON limit and PARSE_MAX_BYTES is read (the route has its own limit)", async () => {
    const text = `${FACT}\n${"filler line of text\n".repeat(15_000)}`; // ~300 KB: over MAX_BODY_BYTES (256 KiB)
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
});

describe("after all of the above", () => {
  it("happy: /metrics exports request counts, latencies, batch sizes, queue wait, tokens and process metrics", async () => {
    const text = await (await fetch(`${origin.url}/metrics`)).text();
    expect(text).toMatch(/origin_http_requests_total\{method="POST",route="\/v1\/embed",status="200"\} \d+/);
    expect(text).toMatch(/origin_http_requests_total\{method="POST",route="\/v1\/embed",status="401"\} \d+/);
    expect(text).toMatch(/origin_http_request_duration_seconds_bucket\{.*route="\/v1\/generate".*\} \d+/);
    expect(text).toMatch(/origin_embed_batch_size_count [1-9]/);
    expect(text).toMatch(/origin_embed_queue_wait_seconds_count [1-9]/);
    expect(text).toMatch(/origin_embed_passage_gate_wait_seconds_count [1-9]/);
    expect(text).toMatch(/origin_generation_tokens_total\{backend="extractive"\} [1-9]/);
    expect(text).toMatch(/origin_chunks_created_total [1-9]/);
    expect(text).toMatch(/process_cpu_seconds_total \d/);
    expect(text).toMatch(/process_resident_memory_bytes \d/);
  });

  it("security: the process survived every bad request and never logged the secret or a token", async () => {
    expect((await fetch(`${origin.url}/healthz`)).status).toBe(200);
    const logs = origin.output();
    expect(logs).not.toContain(TEST_SECRET);
    expect(logs).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no JWT
  });
});
