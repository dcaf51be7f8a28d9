import { beforeAll, describe, expect, it } from "vitest";
import { NO_SOURCES_ANSWER } from "../../src/shared/extractive-answer";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, uniqueTenant } from "./helpers";
import { CORPUS, indexFixture, QUESTIONS, readEvents } from "./query-fixtures";
import { TEST_SECRETS } from "./secrets";

/**
 * The origin is down (ORIGIN_URLS points at a closed port): a query the index can answer still
 * gets a 200 — keyword retrieval and an extractive answer built at the edge, marked degraded.
 */

const tenant = uniqueTenant("qdeg");
let key = "";

beforeAll(async () => {
  ({ key } = await createKey(tenant, ["reader"]));
  // Without an origin there are no embeddings: D1 (documents, chunks, FTS) only.
  await indexFixture(tenant, CORPUS, { vectors: false });
});

const offline = (path: string, body: unknown, headers?: Record<string, string>) =>
  callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, path, { auth: key, body, headers });

function citations(answer: string): number[] {
  return [...answer.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
}

describe("query with the origin down (happy, degraded)", () => {
  it("answers a hybrid query from BM25 with an extractive, cited answer", async () => {
    const response = await offline("/v1/query", { query: QUESTIONS.fire.query, top_k: 3 });
    expect(response.status).toBe(200);
    const result = await json(response);
    expect(result.sources[0].document_id).toBe("london-fire");
    expect(result.sources[0].text).toContain("Pudding Lane");
    expect(result.answer).toContain("Pudding Lane");
    const cited = citations(result.answer);
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.every((n) => n >= 1 && n <= result.sources.length)).toBe(true);
    expect(result.metadata).toMatchObject({
      degraded: true,
      degraded_reasons: ["embedding_unavailable", "generation_unavailable"],
      cache: "miss",
      index_version: 1,
      total_sources: result.sources.length,
      request_id: response.headers.get("x-request-id"),
    });
    expect(result.metadata.timings_ms).toEqual({ embed: expect.any(Number), retrieve: expect.any(Number), generate: expect.any(Number) });
  });

  it("falls back to keyword retrieval for a vector-only query", async () => {
    const result = await json(await offline("/v1/query", { query: QUESTIONS.penicillin.query, mode: "vector", top_k: 2 }));
    expect(result.metadata.degraded_reasons).toEqual(["embedding_unavailable", "generation_unavailable"]);
    expect(result.sources[0].document_id).toBe("penicillin");
    expect(result.answer).toContain("Fleming");
  });

  it("needs no embedding in keyword mode: only generation is degraded", async () => {
    const result = await json(await offline("/v1/query", { query: QUESTIONS.kilimanjaro.query, mode: "keyword", cache: false }));
    expect(result.metadata).toMatchObject({ degraded: true, degraded_reasons: ["generation_unavailable"], cache: "bypass" });
    expect(result.metadata.timings_ms.embed).toBe(0);
    expect(result.sources[0].document_id).toBe("kilimanjaro");
    expect(result.answer).toContain("5,895");
  });

  it("never answers a 5xx for questions the index can answer", async () => {
    for (const question of Object.values(QUESTIONS).filter((q) => q !== QUESTIONS.semantic)) {
      const response = await offline("/v1/query", { query: question.query, top_k: 3 });
      expect(response.status, question.query).toBe(200);
      const result = await json(response);
      expect(
        result.sources.map((s: { document_id: string }) => s.document_id),
        question.query,
      ).toContain(question.document);
    }
  });

  it("says so plainly when nothing matches (no sources, nothing to generate from)", async () => {
    const result = await json(await offline("/v1/query", { query: "the of and to" }));
    expect(result.sources).toEqual([]);
    expect(result.answer).toBe(NO_SOURCES_ANSWER);
    expect(result.metadata.degraded_reasons).toEqual(["embedding_unavailable"]);
  });

  it("streams the edge answer: sources first, tokens, then done marked degraded", async () => {
    for (const request of [
      { body: { query: QUESTIONS.rosetta.query, stream: true }, headers: undefined },
      { body: { query: QUESTIONS.rosetta.query }, headers: { accept: "text/event-stream" } },
    ]) {
      const response = await offline("/v1/query", request.body, request.headers);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const events = await readEvents(response);
      expect(events[0]!.event).toBe("sources");
      expect(events.filter((e) => e.event === "sources")).toHaveLength(1);
      expect(events.at(-1)!.event).toBe("done");
      const tokens = events.filter((e) => e.event === "token");
      expect(tokens.length).toBeGreaterThan(0);
      expect(events.slice(1, -1).every((e) => e.event === "token")).toBe(true);
      const sources = JSON.parse(events[0]!.data);
      expect(sources[0].document_id).toBe("rosetta");
      const answer = tokens.map((e) => JSON.parse(e.data).text).join("");
      expect(answer).toContain("hieroglyphs");
      expect(citations(answer).every((n) => n >= 1 && n <= sources.length)).toBe(true);
      const done = JSON.parse(events.at(-1)!.data);
      expect(done).toMatchObject({
        degraded: true,
        degraded_reasons: ["embedding_unavailable", "generation_unavailable"],
        total_sources: sources.length,
      });
    }
  });

  it("answers a batch, with one problem per invalid entry", async () => {
    const response = await offline("/v1/query/batch", {
      queries: [
        { query: QUESTIONS.panama.query, top_k: 2 },
        { query: "" },
        { query: QUESTIONS.lovelace.query, mode: "keyword", top_k: 2 },
        { query: "fire", stream: true },
        { query: "fire", filters: { lang: { $like: "e%" } } },
      ],
    });
    expect(response.status).toBe(200);
    const { results } = await json(response);
    expect(results).toHaveLength(5);
    expect(results[0].sources[0].document_id).toBe("panama");
    expect(results[0].metadata.degraded_reasons).toEqual(["embedding_unavailable", "generation_unavailable"]);
    expect(results[1]).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(results[2].sources[0].document_id).toBe("lovelace");
    expect(results[2].metadata.degraded_reasons).toEqual(["generation_unavailable"]);
    expect(results[3]).toMatchObject({ status: 400, code: "STREAM_NOT_SUPPORTED" });
    expect(results[4]).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(results[4].detail).toMatch(/\$like/);
    for (const problem of [results[1], results[3], results[4]]) expect(problem.request_id).toBe(response.headers.get("x-request-id"));
  });

  it("counts degraded answers by reason in /metrics", async () => {
    const scrape = async () => (await call("/metrics", { auth: TEST_SECRETS.METRICS_SCRAPE_TOKEN })).text();
    const count = (text: string, reason: string) =>
      Number(new RegExp(`edge_rag_query_degraded_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    const before = await scrape();
    await offline("/v1/query", { query: QUESTIONS.panama.query, mode: "keyword" });
    const after = await scrape();
    expect(count(after, "generation_unavailable")).toBe(count(before, "generation_unavailable") + 1);
    expect(after).toMatch(/edge_rag_query_phase_duration_ms_count\{phase="retrieve"\} \d+/);
  });
});
