import { beforeAll, describe, expect, it } from "vitest";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, uniqueTenant } from "./helpers";
import { CORPUS, indexFixture, QUESTIONS } from "./query-fixtures";

/** POST /v1/search: ranked retrieval without an answer, over the real origin and indexes. */
const tenant = uniqueTenant("search");
let key = "";

beforeAll(async () => {
  ({ key } = await createKey(tenant, ["reader"]));
  await indexFixture(tenant, CORPUS);
}, 120_000);

const search = async (body: Record<string, unknown>, auth = key) => {
  const response = await call("/v1/search", { auth, body });
  expect(response.status, await response.clone().text()).toBe(200);
  return json(response);
};

describe("search (happy)", () => {
  it.each(["hybrid", "vector", "keyword"] as const)("ranks the answering document first in %s mode", async (mode) => {
    const { results, metadata } = await search({ query: QUESTIONS.penicillin.query, mode, top_k: 3 });
    expect(results[0].document_id).toBe(QUESTIONS.penicillin.document);
    expect(results.length).toBeLessThanOrEqual(3);
    expect(metadata).toMatchObject({ degraded: false, total_results: results.length, request_id: expect.any(String) });
    expect(results.every((r: { score: number }) => r.score > 0 && r.score <= 1)).toBe(true);
  });

  it("groups by document: one result each, best chunk first, up to top_k", async () => {
    const { results } = await search({ query: "history of science and engineering", top_k: 100, group_by: "document" });
    const documents = results.map((r: { document_id: string }) => r.document_id);
    expect(new Set(documents).size).toBe(documents.length);
    expect(documents.length).toBeGreaterThan(1);
    expect(documents.length).toBeLessThanOrEqual(CORPUS.length);
  });

  it("finds by meaning only in vector mode, not keyword mode", async () => {
    const vector = await search({ query: QUESTIONS.semantic.query, mode: "vector", top_k: 1 });
    expect(vector.results[0].document_id).toBe(QUESTIONS.semantic.document);
    const keyword = await search({ query: QUESTIONS.semantic.query, mode: "keyword", top_k: 1 });
    expect(keyword.results.map((r: { document_id: string }) => r.document_id)).not.toContain(QUESTIONS.semantic.document);
  });
});

describe("search explain (happy)", () => {
  it("gives each result its rank and score per stage, consistent with the fusion", async () => {
    const { results } = await search({ query: QUESTIONS.penicillin.query, mode: "hybrid", top_k: 5, explain: true, cache: false });
    expect(results.length).toBeGreaterThan(0);
    for (const result of results) {
      expect(Object.keys(result.ranks).sort()).toEqual(["keyword", "rerank", "vector"]);
      expect(Object.keys(result.scores).sort()).toEqual(["fusion", "keyword", "rerank", "vector"]);
      // Found by at least one retriever, and each rank comes with that retriever's score.
      expect(result.ranks.vector !== null || result.ranks.keyword !== null).toBe(true);
      expect(result.ranks.vector === null).toBe(result.scores.vector === null);
      expect(result.ranks.keyword === null).toBe(result.scores.keyword === null);
      // The raw fused value: an RRF sum (> 0) or, with FUSION convex (the local configuration), a
      // weighted mean of z-scored scores (any sign); its order is checked below.
      expect(Number.isFinite(result.scores.fusion)).toBe(true);
      if (result.scores.keyword !== null) expect(result.scores.keyword).toBeGreaterThan(0);
    }
    // Best first: fusion scores do not increase down the list; ranks are 1-based.
    const fusion = results.map((r: { scores: { fusion: number } }) => r.scores.fusion);
    expect([...fusion].sort((a, b) => b - a)).toEqual(fusion);
    const top = results[0];
    expect(top.document_id).toBe(QUESTIONS.penicillin.document);
    expect(Math.min(top.ranks.vector ?? 99, top.ranks.keyword ?? 99)).toBe(1);
  });

  it("keyword mode explains BM25 ranks in BM25 order, and no vector stage", async () => {
    const { results } = await search({ query: QUESTIONS.bees.query, mode: "keyword", top_k: 5, explain: true });
    expect(results.map((r: { ranks: { keyword: number } }) => r.ranks.keyword)).toEqual(results.map((_: unknown, i: number) => i + 1));
    const bm25 = results.map((r: { scores: { keyword: number } }) => r.scores.keyword);
    expect([...bm25].sort((a, b) => b - a)).toEqual(bm25);
    expect(
      results.every((r: { ranks: { vector: null }; scores: { vector: null } }) => r.ranks.vector === null && r.scores.vector === null),
    ).toBe(true);
  });

  it("leaves sources as they were without explain, and caches explained results apart", async () => {
    const plain = await search({ query: QUESTIONS.bees.query, mode: "keyword", top_k: 3 });
    expect(plain.results[0]).not.toHaveProperty("ranks");
    expect(plain.results[0]).not.toHaveProperty("scores");
    // The same request explained is not the cached plain result (explain is part of the key)...
    const explained = await search({ query: QUESTIONS.bees.query, mode: "keyword", top_k: 3, explain: true });
    expect(explained.metadata.cache).toBe("miss");
    expect(explained.results[0].ranks.keyword).toBe(1);
    // ...and, cached in turn, comes back explained.
    const again = await search({ query: QUESTIONS.bees.query, mode: "keyword", top_k: 3, explain: true });
    expect(again.metadata.cache).toBe("hit");
    expect(again.results).toEqual(explained.results);
    expect((await search({ query: QUESTIONS.bees.query, mode: "keyword", top_k: 3 })).results[0]).not.toHaveProperty("ranks");
  });

  it("documents explain, ranks and scores in the OpenAPI document", async () => {
    const document = await json(await call("/openapi.json"));
    const schemas = document.components.schemas;
    expect(schemas.SearchRequest.properties.explain).toMatchObject({ type: "boolean", default: false });
    expect(schemas.QueryRequest.properties.explain).toMatchObject({ type: "boolean", default: false });
    expect(schemas.QuerySource.properties).toHaveProperty("ranks");
    expect(schemas.QuerySource.properties).toHaveProperty("scores");
    expect(Object.keys(schemas.SourceScores.properties).sort()).toEqual(["fusion", "keyword", "rerank", "vector"]);
  });

  it("rejects a non-boolean explain (error)", async () => {
    const response = await call("/v1/search", { auth: key, body: { query: "x", explain: "yes" } });
    expect(response.status).toBe(400);
  });
});

describe("search (error and security)", () => {
  it("rejects top_k above 100 and unknown fields", async () => {
    for (const body of [{ query: "x", top_k: 101 }, { query: "x", typo: 1 }, { query: " " }, { query: "x", group_by: "page" }]) {
      const response = await call("/v1/search", { auth: key, body });
      expect(response.status).toBe(400);
      expect((await json(response)).code).toBe("VALIDATION_FAILED");
    }
  });

  it("needs a reader and never returns another tenant's documents", async () => {
    expect((await call("/v1/search", { body: { query: "bees" } })).status).toBe(401);
    const stranger = await createKey(uniqueTenant("stranger"), ["reader"]);
    const { results } = await search({ query: QUESTIONS.bees.query, top_k: 10 }, stranger.key);
    expect(results).toEqual([]);
  });

  it("treats an origin that refuses our credential (401) as unavailable, not as a bad request", async () => {
    // A rotated ORIGIN_JWT_SECRET on one side only: the origin answers 401 to every call.
    const response = await callWithEnv({ ORIGIN_JWT_SECRET: "a-rotated-secret-that-the-origin-does-not-know" }, "/v1/search", {
      auth: key,
      body: { query: QUESTIONS.fire.query, top_k: 3 },
    });
    expect(response.status).toBe(200);
    const { results, metadata } = await json(response);
    expect(metadata).toMatchObject({ degraded: true, degraded_reasons: ["embedding_unavailable"] });
    expect(results[0].document_id).toBe(QUESTIONS.fire.document);
  });

  it("degrades to keyword retrieval when the origin is down", async () => {
    const response = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/search", {
      auth: key,
      body: { query: QUESTIONS.fire.query, top_k: 3 },
    });
    expect(response.status).toBe(200);
    const { results, metadata } = await json(response);
    expect(metadata).toMatchObject({ degraded: true, degraded_reasons: ["embedding_unavailable"] });
    expect(results[0].document_id).toBe(QUESTIONS.fire.document);
  });
});
