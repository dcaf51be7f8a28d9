import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { answerKey, retrievalCacheTag, searchKey } from "../../src/cache/cache-key";
import { loadConfig } from "../../src/config";
import { localServices } from "../../src/local";
import { originAudience } from "../../src/origin/origin-token";
import { createReranker, ORIGIN_RERANK_PATH } from "../../src/rerank/create-reranker";
import { type Reranker, RerankUnavailable } from "../../src/rerank/reranker";
import { createTeiReranker } from "../../src/rerank/tei-reranker";
import { createWorkersAiReranker, type RerankBinding, WORKERS_AI_RERANK_MODEL } from "../../src/rerank/workers-ai-reranker";
import { planFilters } from "../../src/retrieval/filters";
import { type RetrieverDeps, retrieve } from "../../src/retrieval/retrieve";
import { uniqueTenant } from "./helpers";
import { type FixtureDocument, indexFixture } from "./query-fixtures";

/**
 * The rerank adapters against stand-ins that follow the documented wire formats, and the rerank
 * step of retrieval (with a stand-in reranker: no cross-encoder exists offline).
 */

/** A toy relevance: the share of the query's words in the text, as a sigmoid-like 0..1 score. */
const overlap = (query: string, text: string) => {
  const words = new Set(query.toLowerCase().split(/\W+/).filter(Boolean));
  const hits = text
    .toLowerCase()
    .split(/\W+/)
    .filter((word) => words.has(word)).length;
  return hits / (hits + 1);
};

/**
 * Text Embeddings Inference's POST /rerank as documented: `{ query, texts, raw_scores?,
 * return_text?, truncate?, truncation_direction? }` → `[{ index, score, text? }]`, best first;
 * 422 for an empty `texts`.
 */
function teiStandIn(seen: Array<{ url: string; body: Record<string, unknown>; headers: Headers }> = []): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const body = (await request.json()) as { query?: unknown; texts?: unknown; return_text?: boolean };
    seen.push({ url: request.url, body: body as Record<string, unknown>, headers: request.headers });
    if (request.method !== "POST" || typeof body.query !== "string" || !Array.isArray(body.texts)) {
      return Response.json({ error: "Input validation error", error_type: "Validation" }, { status: 422 });
    }
    if (body.texts.length === 0) return Response.json({ error: "`texts` cannot be empty", error_type: "Validation" }, { status: 422 });
    const texts = body.texts as string[];
    const ranked = texts
      .map((text, index) => ({ index, score: overlap(body.query as string, text), ...(body.return_text ? { text } : {}) }))
      .sort((a, b) => b.score - a.score);
    return Response.json(ranked);
  }) as typeof fetch;
}

/** Workers AI's @cf/baai/bge-reranker-base as documented: `{ query, contexts: [{ text }], top_k? }` → `{ response: [{ id, score }] }`. */
function workersAiStandIn(calls: unknown[] = []): RerankBinding {
  return {
    async run(model, inputs) {
      calls.push({ model, inputs });
      if (model !== WORKERS_AI_RERANK_MODEL) throw new Error(`unknown model ${model}`);
      if (typeof inputs.query !== "string" || !Array.isArray(inputs.contexts)) throw new Error("AiError: invalid input");
      const response = inputs.contexts
        .map(({ text }, id) => ({ id, score: overlap(inputs.query, text ?? "") }))
        .sort((a, b) => b.score - a.score)
        .slice(0, inputs.top_k ?? inputs.contexts.length);
      return { response };
    },
  };
}

const TEXTS = ["nothing relevant here", "the granite bridge over the river", "a granite quarry"];
const QUERY = "granite bridge river";
// Expected scores by input position (the stand-ins answer best first; adapters must map back by index).
const EXPECTED = TEXTS.map((text) => overlap(QUERY, text));

describe("TEI /rerank adapter conformance", () => {
  it("sends TEI's request and maps its best-first answer back to input order", async () => {
    const seen: Array<{ url: string; body: Record<string, unknown>; headers: Headers }> = [];
    const reranker = createTeiReranker({ urls: ["http://tei.test/rerank"], fetcher: teiStandIn(seen) });
    expect(await reranker.rerank(QUERY, TEXTS, "acme")).toEqual(EXPECTED);
    expect(seen[0]!.body).toEqual({ query: QUERY, texts: TEXTS, raw_scores: false, return_text: false, truncate: true });
    expect(seen[0]!.headers.get("content-type")).toBe("application/json");
    // No texts: no call (TEI would answer 422).
    expect(await reranker.rerank(QUERY, [], "acme")).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it("fails over to the next endpoint, and throws RerankUnavailable when none answers (error)", async () => {
    const down = (async () => new Response("overloaded", { status: 503 })) as unknown as typeof fetch;
    let calls = 0;
    const flaky = (async (input: RequestInfo | URL, init?: RequestInit) => {
      calls += 1;
      return new Request(input, init).url.includes("first") ? down(input, init) : teiStandIn()(input, init);
    }) as typeof fetch;
    const reranker = createTeiReranker({ urls: ["http://first.test/rerank", "http://second.test/rerank"], fetcher: flaky });
    expect(await reranker.rerank(QUERY, TEXTS, "acme")).toEqual(EXPECTED);
    expect(calls).toBe(2);
    await expect(createTeiReranker({ urls: ["http://a.test/rerank"], fetcher: down }).rerank(QUERY, TEXTS, "acme")).rejects.toBeInstanceOf(
      RerankUnavailable,
    );
  });

  it.each([
    ["not TEI's shape", { scores: [1, 2, 3] }],
    ["a missing text", [{ index: 0, score: 0.1 }]],
    ["an index out of range", [0, 1, 3].map((index) => ({ index, score: 0.5 }))],
    ["a repeated index", [0, 1, 1].map((index) => ({ index, score: 0.5 }))],
  ])("rejects an answer with %s (error)", async (_, answer) => {
    const fetcher = (async () => Response.json(answer)) as unknown as typeof fetch;
    await expect(createTeiReranker({ urls: ["http://tei.test/rerank"], fetcher }).rerank(QUERY, TEXTS, "acme")).rejects.toBeInstanceOf(
      RerankUnavailable,
    );
  });

  it("gives up after its timeout (error)", async () => {
    const hang = ((_: unknown, init?: RequestInit) =>
      new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)))) as unknown as typeof fetch;
    const started = performance.now();
    await expect(
      createTeiReranker({ urls: ["http://tei.test/rerank"], fetcher: hang, timeoutMs: 50 }).rerank(QUERY, TEXTS, "acme"),
    ).rejects.toBeInstanceOf(RerankUnavailable);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("calls the origin's /v1/rerank with a token for that route and tenant (RERANKER=origin)", async () => {
    const seen: Array<{ url: string; body: Record<string, unknown>; headers: Headers }> = [];
    const config = loadConfig({ ...env, RERANKER: "origin", ORIGIN_URLS: "http://origin-a.test,http://origin-b.test" });
    const reranker = createReranker(config, undefined, teiStandIn(seen))!;
    expect(reranker.name).toBe("origin:tei");
    expect(await reranker.rerank(QUERY, TEXTS, "acme")).toEqual(EXPECTED);
    expect(seen[0]!.url).toBe(`http://origin-a.test${ORIGIN_RERANK_PATH}`);
    const token = seen[0]!.headers.get("authorization")!.replace(/^Bearer /, "");
    const claims = JSON.parse(atob(token.split(".")[1]!.replaceAll("-", "+").replaceAll("_", "/")));
    // This route's audience only (no route-less one any origin would take), the tenant, a fresh jti.
    expect(claims).toMatchObject({ aud: originAudience(ORIGIN_RERANK_PATH), tenant: "acme", jti: expect.any(String) });
    await reranker.rerank(QUERY, TEXTS, "acme");
    const next = JSON.parse(atob(seen[1]!.headers.get("authorization")!.split(".")[1]!.replaceAll("-", "+").replaceAll("_", "/")));
    expect(next.jti).not.toBe(claims.jti);
  });
});

describe("Workers AI reranker adapter conformance", () => {
  it("sends the documented input and maps { response: [{ id, score }] } back to input order", async () => {
    const calls: unknown[] = [];
    const reranker = createWorkersAiReranker(workersAiStandIn(calls));
    expect(reranker.name).toBe(`workers-ai:${WORKERS_AI_RERANK_MODEL}`);
    expect(await reranker.rerank(QUERY, TEXTS, "acme")).toEqual(EXPECTED);
    expect(calls).toEqual([
      { model: WORKERS_AI_RERANK_MODEL, inputs: { query: QUERY, contexts: TEXTS.map((text) => ({ text })), top_k: 3 } },
    ]);
  });

  it("turns a binding error, a wrong shape or a partial answer into RerankUnavailable (error)", async () => {
    const answers: unknown[] = [new Error("AiError: 3040: capacity"), { result: [] }, { response: [{ id: 0, score: 0.2 }] }];
    for (const answer of answers) {
      const ai: RerankBinding = { run: async () => (answer instanceof Error ? Promise.reject(answer) : answer) };
      await expect(createWorkersAiReranker(ai).rerank(QUERY, TEXTS, "acme")).rejects.toBeInstanceOf(RerankUnavailable);
    }
  });

  it("is chosen by RERANKER=workers-ai only with an AI binding; none is the default", () => {
    const config = (RERANKER: string) => loadConfig({ ...env, RERANKER });
    expect(createReranker(config("workers-ai"), workersAiStandIn())?.name).toBe(`workers-ai:${WORKERS_AI_RERANK_MODEL}`);
    expect(createReranker(config("workers-ai"), undefined)).toBeUndefined();
    expect(loadConfig(env).RERANKER).toBe("none");
    expect(createReranker(loadConfig(env), workersAiStandIn())).toBeUndefined();
  });
});

describe("the rerank step of retrieval", () => {
  const tenant = uniqueTenant("rerank");
  const docs: FixtureDocument[] = [
    { id: "r1", collection: "default", text: "granite granite granite quarry", metadata: {} },
    { id: "r2", collection: "default", text: "the granite bridge crosses the river", metadata: {} },
    { id: "r3", collection: "default", text: "granite statue", metadata: {} },
  ];
  const deps = (reranker?: Reranker): RetrieverDeps => ({
    tenantData: localServices(env).tenantData,
    vectors: undefined as unknown as Vectorize,
    fusion: { method: "rrf", k: 60, weights: { vector: 1, keyword: 1 } },
    candidates: 50,
    metric: "cosine",
    reranker,
    rerankCandidates: 30,
  });
  const request = { tenant, query: "granite bridge river", mode: "keyword" as const, topK: 3, plan: planFilters(undefined) };

  it("reorders the fused candidates by the reranker's score, with its rank and score per source", async () => {
    const { chunkIds } = await indexFixture(tenant, docs, { vectors: false });
    const fused = await retrieve(deps(), request);
    const reranker = createTeiReranker({ urls: ["http://tei.test/rerank"], fetcher: teiStandIn() });
    const reranked = await retrieve(deps(reranker), request);
    expect(reranked.degraded).toEqual([]);
    // The same candidates; the one that matches every query word first.
    expect(new Set(reranked.chunks.map((chunk) => chunk.id))).toEqual(new Set(fused.chunks.map((chunk) => chunk.id)));
    expect(chunkIds.get(reranked.chunks[0]!.id)).toBe("r2");
    expect(reranked.chunks.map((chunk) => chunk.ranks.rerank)).toEqual([1, 2, 3]);
    const rerankScores = reranked.chunks.map((chunk) => chunk.scores.rerank!);
    expect([...rerankScores].sort((a, b) => b - a)).toEqual(rerankScores);
    expect(reranked.chunks.map((chunk) => chunk.score)).toEqual(rerankScores);
    // A reranker that prefers the fused list's tail reverses it: the order is the reranker's, not the fusion's.
    const reversing: Reranker = { name: "reversing", rerank: async (_, texts) => texts.map((_, i) => (i + 1) / 10) };
    const reversed = await retrieve(deps(reversing), request);
    expect(reversed.chunks.map((chunk) => chunk.id)).toEqual(fused.chunks.map((chunk) => chunk.id).reverse());
    // Earlier stages are still explained as they were.
    for (const chunk of reranked.chunks) {
      const before = fused.chunks.find((other) => other.id === chunk.id)!;
      expect(chunk.ranks.keyword).toBe(before.ranks.keyword);
      expect(chunk.scores.fusion).toBe(before.scores.fusion);
    }
  });

  it("keeps the fused order and reports rerank_unavailable when the reranker fails (error)", async () => {
    const fused = await retrieve(deps(), request);
    const failing: Reranker = { name: "broken", rerank: async () => Promise.reject(new RerankUnavailable("down")) };
    const result = await retrieve(deps(failing), request);
    expect(result.degraded).toEqual(["rerank_unavailable"]);
    expect(result.chunks.map((chunk) => [chunk.id, chunk.score, chunk.ranks.rerank])).toEqual(
      fused.chunks.map((chunk) => [chunk.id, chunk.score, null]),
    );
  });

  it("reranks at most the window and keeps scores best first past it", async () => {
    const calls: number[] = [];
    const counting: Reranker = {
      name: "counting",
      rerank: async (_, texts) => {
        calls.push(texts.length);
        return texts.map((_, i) => 0.1 + i / 100);
      },
    };
    const result = await retrieve({ ...deps(counting), rerankCandidates: 2 }, { ...request, topK: 3 });
    // At least top_k candidates are reranked.
    expect(calls).toEqual([3]);
    const narrow = await retrieve({ ...deps(counting), rerankCandidates: 2 }, { ...request, topK: 1 });
    expect(calls.at(-1)).toBe(2);
    expect(narrow.chunks).toHaveLength(1);
    const scores = result.chunks.map((chunk) => chunk.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });
});

describe("cache keys of reranked and explained results", () => {
  const state = { indexVersion: 3, cacheEpoch: 0, embeddingModel: "m" };
  const search = { query: "q", top_k: 10, mode: "hybrid" as const, group_by: "chunk" as const, cache: true, explain: false };
  const answer = { query: "q", top_k: 5, mode: "hybrid" as const, cache: true, explain: false };

  it("keys a reranked or explained result apart, and leaves plain keys as they were", async () => {
    const plain = await searchKey("t", state, search);
    expect(await searchKey("t", state, search, retrievalCacheTag({ RERANKER: "none" }))).toBe(plain);
    expect(await searchKey("t", state, search, retrievalCacheTag({ RERANKER: "origin" }))).not.toBe(plain);
    expect(await searchKey("t", state, { ...search, explain: true })).not.toBe(plain);
    // Without explain or a reranker, the key is the one computed before either existed.
    const { explain: _explain, ...before } = search;
    expect(await searchKey("t", state, before as typeof search)).toBe(plain);
    const answerPlain = await answerKey("t", state, answer, "tag");
    expect(await answerKey("t", state, answer, "tag", "rerank:workers-ai")).not.toBe(answerPlain);
    expect(await answerKey("t", state, { ...answer, explain: true }, "tag")).not.toBe(answerPlain);
  });
});
