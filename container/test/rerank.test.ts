import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RerankResponseSchema } from "../../src/shared/origin-contract.ts";
import { type Origin, startOrigin } from "./helpers/origin.ts";
import { authHeaders } from "./helpers/token.ts";

/**
 * POST /v1/rerank on the real origin process, in front of a stand-in for Text Embeddings
 * Inference's documented POST /rerank (`{ query, texts, raw_scores?, return_text?, truncate? }` →
 * `[{ index, score, text? }]`, best first).
 */
let mode: "ok" | "http-503" | "malformed" = "ok";
const received: unknown[] = [];
const tei: Server = createServer((request, response) => {
  let raw = "";
  request.on("data", (chunk) => (raw += chunk));
  request.on("end", () => {
    const body = JSON.parse(raw) as { query: string; texts: string[]; return_text?: boolean };
    received.push({ path: request.url, body });
    if (mode === "http-503") return void response.writeHead(503).end("overloaded");
    const words = new Set(body.query.toLowerCase().split(/\W+/));
    const ranked =
      mode === "malformed"
        ? [{ index: 0, score: 1 }]
        : body.texts
            .map((text, index) => ({ index, score: text.split(/\W+/).filter((w) => words.has(w.toLowerCase())).length / 10 }))
            .sort((a, b) => b.score - a.score);
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(ranked));
  });
});
let origin: Origin;
let bare: Origin;

beforeAll(async () => {
  await new Promise<void>((done) => tei.listen(0, "127.0.0.1", done));
  const { port } = tei.address() as AddressInfo;
  [origin, bare] = await Promise.all([startOrigin({ RERANK_URL: `http://127.0.0.1:${port}` }), startOrigin()]);
});
afterAll(async () => {
  await Promise.all([origin?.stop(), bare?.stop()]);
  await new Promise((done) => tei.close(done));
});

const post = async (target: Origin, body: unknown, path = "/v1/rerank") =>
  fetch(`${target.url}${path}`, { method: "POST", headers: await authHeaders(path), body: JSON.stringify(body) });

describe("POST /v1/rerank", () => {
  it("happy: passes TEI's request through and returns its answer", async () => {
    const request = {
      query: "granite bridge",
      texts: ["nothing", "granite bridge here", "granite"],
      raw_scores: false,
      return_text: false,
      truncate: true,
    };
    const response = await post(origin, request);
    expect(response.status).toBe(200);
    const body = RerankResponseSchema.parse(await response.json());
    expect(body.map((entry) => entry.index)).toEqual([1, 2, 0]);
    expect(received.at(-1)).toEqual({ path: "/rerank", body: request });
  });

  it("error: invalid requests are 400, and nothing reaches TEI", async () => {
    const before = received.length;
    for (const body of [{ query: "q", texts: [] }, { query: "", texts: ["a"] }, { texts: ["a"] }, { query: "q", texts: ["a"], extra: 1 }]) {
      expect((await post(origin, body)).status).toBe(400);
    }
    expect(received.length).toBe(before);
  });

  it("error: TEI down → 503, a malformed answer → 502, no reranker configured → 503", async () => {
    mode = "http-503";
    expect((await post(origin, { query: "q", texts: ["a", "b"] })).status).toBe(503);
    mode = "malformed";
    expect((await post(origin, { query: "q", texts: ["a", "b"] })).status).toBe(502);
    mode = "ok";
    expect((await post(bare, { query: "q", texts: ["a"] })).status).toBe(503);
  });

  it("security: needs a worker token for this route", async () => {
    const wrongRoute = await fetch(`${origin.url}/v1/rerank`, {
      method: "POST",
      headers: await authHeaders("/v1/embed"),
      body: JSON.stringify({ query: "q", texts: ["a"] }),
    });
    expect(wrongRoute.status).toBe(401);
    expect((await fetch(`${origin.url}/v1/rerank`, { method: "POST", body: "{}" })).status).toBe(401);
  });
});
