import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createOriginEmbedder } from "../../src/embedding/query-embedder";
import { localServices } from "../../src/local";
import type { Origins } from "../../src/origin/origin-client";
import { createQueryService, type QueryService } from "../../src/query/query-service";
import type { QueryInput, QueryResponse, Source } from "../../src/query/schemas";
import { createRetriever } from "../../src/retrieval/retrieve";
import type { ServicesFactory } from "../../src/services";
import { call, callWithEnv, callWithServices, createKey, json, servicesWith, tenantFirst, uniqueTenant } from "./helpers";
import { indexVersion } from "./ingest-fixtures";
import { CORPUS, type FixtureDocument, indexFixture, QUESTIONS, readEvents } from "./query-fixtures";

/**
 * POST /v1/query and /v1/query/batch end to end: real D1, the real vector index and the REAL
 * origin (embeddings and generation), over documents indexed by the ingestion side's indexer.
 */

const tenant = uniqueTenant("query");
let key = "";
let chunks = new Map<string, string>();

beforeAll(async () => {
  ({ key } = await createKey(tenant, ["reader"]));
  ({ chunkIds: chunks } = await indexFixture(tenant, CORPUS));
}, 120_000);

const query = async (body: Record<string, unknown>, auth = key) => {
  const response = await call("/v1/query", { auth, body });
  expect(response.status, await response.clone().text()).toBe(200);
  return json(response);
};
const documentsOf = (sources: Source[]) => sources.map((source) => source.document_id);
const citations = (answer: string) => [...answer.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
const docsWhere = (test: (document: FixtureDocument) => boolean) =>
  CORPUS.filter(test)
    .map((document) => document.id)
    .sort();

const KEYWORD_QUESTIONS = Object.values(QUESTIONS).filter((question) => question !== QUESTIONS.semantic);

describe("query (happy)", () => {
  it.each(["hybrid", "keyword", "vector"] as const)("finds the paragraph that answers each question in %s mode", async (mode) => {
    for (const question of KEYWORD_QUESTIONS) {
      const result = await query({ query: question.query, mode, top_k: 3 });
      expect(documentsOf(result.sources), `${mode}: ${question.query}`).toContain(question.document);
      const source = result.sources.find((s: Source) => s.document_id === question.document);
      expect(chunks.get(source.id)).toBe(question.document);
      expect(result.metadata).toMatchObject({ degraded: false, degraded_reasons: [] });
      expect(typeof result.answer).toBe("string");
      expect(result.answer.length).toBeGreaterThan(0);
      expect(citations(result.answer).every((n) => n >= 1 && n <= result.sources.length)).toBe(true);
    }
  });

  it("puts the answering paragraph first in hybrid mode", async () => {
    for (const question of KEYWORD_QUESTIONS) {
      const result = await query({ query: question.query, top_k: 3 });
      expect(result.sources[0].document_id, question.query).toBe(question.document);
      expect(result.sources.map((s: Source) => s.text).join(" ")).toContain(question.answer);
    }
  });

  it("finds by meaning (vector, hybrid) what shares no word with the question (keyword)", async () => {
    const { query: text, document } = QUESTIONS.semantic;
    expect(documentsOf((await query({ query: text, mode: "vector", top_k: 3 })).sources)).toContain(document);
    expect(documentsOf((await query({ query: text, mode: "hybrid", top_k: 3 })).sources)).toContain(document);
    const keyword = await query({ query: text, mode: "keyword" });
    expect(keyword.sources).toEqual([]);
  });

  it("describes the answer: metadata, scores in 0..1 best first, previews of at most 500 characters", async () => {
    const response = await call("/v1/query", { auth: key, body: { query: QUESTIONS.bees.query, top_k: 8 } });
    const result = await json(response);
    const version = await indexVersion(tenant);
    expect(result.metadata).toMatchObject({
      total_sources: result.sources.length,
      cache: "miss",
      degraded: false,
      index_version: version,
      request_id: response.headers.get("x-request-id"),
    });
    expect(result.metadata.query_time_ms).toBeGreaterThanOrEqual(0);
    for (const phase of ["embed", "retrieve", "generate"]) expect(result.metadata.timings_ms[phase]).toBeGreaterThanOrEqual(0);
    expect(result.sources[0].score).toBeGreaterThan(0.5);
    const scores = result.sources.map((s: Source) => s.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const source of result.sources as Source[]) {
      expect(source.score).toBeGreaterThan(0);
      expect(source.score).toBeLessThanOrEqual(1);
      const full = (await tenantFirst<{ text: string }>(tenant, "SELECT text FROM chunks WHERE id = ?1", source.id))?.text;
      expect(source.text.length).toBeLessThanOrEqual(500);
      if (full!.length <= 500) expect(source.text).toBe(full);
      else expect(source.text).toBe(`${full!.slice(0, 499)}…`);
      const document = CORPUS.find((d) => d.id === source.document_id)!;
      expect(source.metadata).toEqual({ ...document.metadata, collection: document.collection });
    }
  });

  it("explains each source's ranks and scores per stage with explain: true (and the stream's sources too)", async () => {
    const result = await query({ query: QUESTIONS.bees.query, top_k: 5, explain: true, cache: false });
    expect(result.sources[0].document_id).toBe(QUESTIONS.bees.document);
    for (const source of result.sources) {
      expect(Object.keys(source.ranks).sort()).toEqual(["keyword", "rerank", "vector"]);
      expect(source.ranks.rerank).toBeNull();
      expect(source.scores).toMatchObject({ fusion: expect.any(Number), rerank: null });
      expect(source.ranks.vector === null).toBe(source.scores.vector === null);
      expect(source.ranks.keyword === null).toBe(source.scores.keyword === null);
    }
    // The same sources as without explain, in the same order and with the same scores.
    const plain = await query({ query: QUESTIONS.bees.query, top_k: 5, cache: false });
    expect(plain.sources.map((s: Source) => [s.id, s.score])).toEqual(result.sources.map((s: Source) => [s.id, s.score]));
    expect(plain.sources[0]).not.toHaveProperty("ranks");
    const events = await readEvents(
      await call("/v1/query", { auth: key, body: { query: QUESTIONS.bees.query, top_k: 5, explain: true, stream: true, cache: false } }),
    );
    const sources = JSON.parse(events.find((event) => event.event === "sources")!.data) as Source[];
    expect(sources.map((s) => s.ranks)).toEqual(result.sources.map((s: Source) => s.ranks));
  });

  it("honours top_k from 1 to 50 and reports cache: false as bypass", async () => {
    const one = await query({ query: QUESTIONS.panama.query, top_k: 1, cache: false });
    expect(one.sources).toHaveLength(1);
    expect(one.metadata.cache).toBe("bypass");
    // Dense retrieval ranks every chunk, so top_k 50 returns the whole (small) corpus.
    const all = await query({ query: QUESTIONS.panama.query, top_k: 50 });
    expect(all.sources.length).toBe(chunks.size);
    expect(new Set(all.sources.map((s: Source) => s.id)).size).toBe(chunks.size);
  });
});

describe("query filters (happy)", () => {
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ["a collection", { collection: "history" }, docsWhere((d) => d.collection === "history")],
    ["a bare metadata value", { lang: "de" }, ["lovelace"]],
    ["$eq", { topic: { $eq: "biology" } }, docsWhere((d) => d.metadata.topic === "biology")],
    ["$ne (missing keys match)", { reviewed: { $ne: true } }, docsWhere((d) => d.metadata.reviewed !== true)],
    ["$in", { topic: { $in: ["medicine", "cities"] } }, ["london-fire", "penicillin"]],
    ["$nin", { collection: { $nin: ["history", "science"] } }, docsWhere((d) => d.collection === "geography")],
    ["$lt", { year: { $lt: 1780 } }, ["london-fire", "photosynthesis"]],
    ["$lte", { year: { $lte: 1799 } }, ["london-fire", "photosynthesis", "rosetta"]],
    ["$gt", { year: { $gt: 1889 } }, ["bees", "panama", "penicillin"]],
    ["$gte with $lt", { year: { $gte: 1889, $lt: 1928 } }, ["kilimanjaro", "panama"]],
    ["a boolean", { reviewed: false }, ["kilimanjaro", "penicillin"]],
    ["document_id", { document_id: { $in: ["rosetta", "bees"] } }, ["bees", "rosetta"]],
    ["several keys", { collection: { $in: ["science", "geography"] }, reviewed: true }, ["bees", "panama"]],
  ];

  it.each(cases)("applies %s exactly, in every mode", async (_, filters, expected) => {
    // Vector and hybrid retrieval rank every chunk that passes, so the sets must be equal.
    for (const mode of ["vector", "hybrid"]) {
      const result = await query({ query: "a discovery in history, science or geography", mode, top_k: 50, filters });
      expect([...new Set(documentsOf(result.sources))].sort(), `${mode} ${JSON.stringify(filters)}`).toEqual(expected);
    }
    // Keyword retrieval returns only chunks with a query term, but never one outside the filter.
    const keyword = await query({
      query: "the of in 1928 1914 1666 1799 1843 1889 Nobel light Africa",
      mode: "keyword",
      top_k: 50,
      filters,
    });
    for (const document of documentsOf(keyword.sources)) expect(expected).toContain(document);
  });

  it("returns nothing (and no error) when no document passes the filter", async () => {
    const result = await query({ query: QUESTIONS.fire.query, filters: { lang: "xx" } });
    expect(result.sources).toEqual([]);
    expect(result.metadata.degraded).toBe(false);
  });
});

describe("query across collections (happy)", () => {
  it("queries several collections in parallel and merges them by score", async () => {
    const named = ["science", "history"];
    const merged = await query({ query: QUESTIONS.penicillin.query, mode: "vector", top_k: 50, filters: { collection: { $in: named } } });
    expect([...new Set(documentsOf(merged.sources))].sort()).toEqual(docsWhere((d) => named.includes(d.collection)));
    expect(merged.sources[0].document_id).toBe("penicillin");
    // Merging per-collection results by similarity gives the global ranking restricted to them.
    const global = await query({ query: QUESTIONS.penicillin.query, mode: "vector", top_k: 50 });
    const restricted = global.sources.filter((s: Source) => named.includes(s.metadata.collection as string)).map((s: Source) => s.id);
    expect(merged.sources.map((s: Source) => s.id)).toEqual(restricted);
  });

  it("answers from whichever collection holds the answer", async () => {
    const filters = { collection: { $in: ["geography", "history"] } };
    expect((await query({ query: QUESTIONS.kilimanjaro.query, filters, top_k: 3 })).sources[0].document_id).toBe("kilimanjaro");
    expect((await query({ query: QUESTIONS.rosetta.query, filters, top_k: 3 })).sources[0].document_id).toBe("rosetta");
  });
});

describe("query streaming (happy)", () => {
  it("streams sources first, then the origin's tokens, then done with the metadata", async () => {
    const whole = await query({ query: QUESTIONS.fire.query, top_k: 3 });
    for (const request of [
      { body: { query: QUESTIONS.fire.query, top_k: 3, stream: true } },
      { body: { query: QUESTIONS.fire.query, top_k: 3 }, headers: { accept: "text/event-stream" } },
    ]) {
      const response = await call("/v1/query", { auth: key, ...request });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-request-id")).toBeTruthy();
      const events = await readEvents(response);
      expect(events[0]!.event).toBe("sources");
      expect(events.at(-1)!.event).toBe("done");
      expect(events.slice(1, -1).every((event) => event.event === "token")).toBe(true);
      const sources = JSON.parse(events[0]!.data) as Source[];
      expect(sources.map((s) => s.id)).toEqual(whole.sources.map((s: Source) => s.id));
      const answer = events
        .slice(1, -1)
        .map((event) => JSON.parse(event.data).text)
        .join("");
      expect(answer.length).toBeGreaterThan(0);
      expect(citations(answer).every((n) => n >= 1 && n <= sources.length)).toBe(true);
      const done = JSON.parse(events.at(-1)!.data);
      expect(done).toMatchObject({
        degraded: false,
        degraded_reasons: [],
        total_sources: sources.length,
        request_id: response.headers.get("x-request-id"),
      });
    }
  });
});

describe("query batch (happy)", () => {
  it("answers each query, with a problem in place of each bad one", async () => {
    const response = await call("/v1/query/batch", {
      auth: key,
      body: {
        queries: [
          { query: QUESTIONS.penicillin.query, top_k: 2 },
          { query: QUESTIONS.semantic.query, mode: "vector", top_k: 3 },
          { query: "fire", top_k: 0 },
          { query: QUESTIONS.fire.query, mode: "keyword", top_k: 2, filters: { collection: "history" } },
          { query: "fire", stream: true },
          { query: QUESTIONS.panama.query, filters: { year: { $gte: 1900 } } },
        ],
      },
    });
    expect(response.status).toBe(200);
    const { results } = await json(response);
    expect(results).toHaveLength(6);
    expect(results[0].sources[0].document_id).toBe("penicillin");
    expect(documentsOf(results[1].sources)).toContain("bees");
    expect(results[2]).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(results[3].sources[0].document_id).toBe("london-fire");
    expect(results[4]).toMatchObject({ status: 400, code: "STREAM_NOT_SUPPORTED" });
    expect(results[5].sources[0].document_id).toBe("panama");
    for (const document of documentsOf(results[5].sources)) expect(["bees", "panama", "penicillin"]).toContain(document);
    for (const index of [0, 1, 3, 5]) {
      expect(results[index].metadata).toMatchObject({ degraded: false, request_id: response.headers.get("x-request-id") });
      expect(results[index].answer.length).toBeGreaterThan(0);
    }
  });

  it(`answers ${32} queries in one batch`, async () => {
    const questions = KEYWORD_QUESTIONS;
    const queries = Array.from({ length: 32 }, (_, i) => ({ query: questions[i % questions.length]!.query, top_k: 2 }));
    const { results } = await json(await call("/v1/query/batch", { auth: key, body: { queries } }));
    expect(results).toHaveLength(32);
    results.forEach((result: { sources: Source[]; metadata: { degraded: boolean } }, i: number) => {
      expect(result.metadata.degraded).toBe(false);
      expect(documentsOf(result.sources)).toContain(questions[i % questions.length]!.document);
    });
  }, 60_000);
});

describe("the query backend (the miss path next to the data)", () => {
  it("answers a miss through the BACKEND binding exactly as the front would on its own bindings (happy)", async () => {
    const question = { query: QUESTIONS.penicillin.query, top_k: 3, cache: false };
    const viaBackend = await json(await call("/v1/query", { auth: key, body: question }));
    const here = await json(await callWithEnv({}, "/v1/query", { auth: key, body: question }));
    expect(viaBackend.answer).toBe(here.answer);
    expect(documentsOf(viaBackend.sources)).toEqual(documentsOf(here.sources));
    expect(viaBackend.metadata).toMatchObject({ degraded: false, index_version: here.metadata.index_version });
  });

  it("answers on the front's own bindings when the backend cannot be reached (error)", async () => {
    const unreachable = () => Promise.reject(new Error("Network connection lost."));
    const backend = { answer: unreachable, stream: unreachable, search: unreachable };
    const question = { query: QUESTIONS.penicillin.query, top_k: 3, cache: false };
    const response = await callWithEnv({ BACKEND: backend }, "/v1/query", { auth: key, body: question });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(documentsOf(body.sources)).toContain("penicillin");
    expect(body.metadata.degraded).toBe(false);
  });

  it("keeps a problem of the backend's use case as the same problem (error)", async () => {
    const refused = {
      ok: false,
      problem: {
        type: "urn:edge-rag:problem:store-unavailable",
        title: "Store unavailable",
        status: 503,
        detail: "the tenant's data is unavailable",
        code: "STORE_UNAVAILABLE",
        request_id: "r",
      },
      headers: { "retry-after": "5" },
    };
    const backend = { answer: async () => refused, stream: async () => refused, search: async () => refused };
    const response = await callWithEnv({ BACKEND: backend }, "/v1/query", { auth: key, body: { query: "anything at all", cache: false } });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await json(response)).toMatchObject({ code: "STORE_UNAVAILABLE", detail: "the tenant's data is unavailable" });
  });
});

describe("the query service is the routes' one seam (happy)", () => {
  it("a wrapper around services.query serves /v1/query, its stream, /v1/query/batch and /v1/search with no route change", async () => {
    const seen: string[] = [];
    const wrapped: ServicesFactory = (bindings) => {
      const services = localServices(bindings);
      const sees =
        <A extends unknown[], R>(name: string, call: (...args: A) => R) =>
        (...args: A): R => {
          seen.push(name);
          return call(...args);
        };
      const query: QueryService = {
        answer: sees("answer", services.query.answer),
        stream: sees("stream", services.query.stream),
        batch: sees("batch", services.query.batch),
        search: sees("search", services.query.search),
      };
      return { ...services, query };
    };
    const body = { query: QUESTIONS.fire.query, top_k: 2 };
    expect((await callWithServices(wrapped, "/v1/query", { auth: key, body })).status).toBe(200);
    const streamed = await callWithServices(wrapped, "/v1/query", { auth: key, body: { ...body, stream: true } });
    expect((await readEvents(streamed)).at(-1)!.event).toBe("done");
    expect((await callWithServices(wrapped, "/v1/query/batch", { auth: key, body: { queries: [body] } })).status).toBe(200);
    expect((await callWithServices(wrapped, "/v1/search", { auth: key, body })).status).toBe(200);
    expect(seen).toEqual(["answer", "stream", "batch", "search"]);
  });
});

describe("query batch embedding (happy)", () => {
  it("embeds every batch query with ONE origin call, and keyword queries not at all", async () => {
    const services = localServices(env);
    // The real origin client, counting its embed calls.
    const calls: string[][] = [];
    const origin: Origins = {
      ...services.origin,
      forTenant: (tenant) => ({
        ...services.origin.forTenant(tenant),
        embed: (inputs, kind) => {
          calls.push(inputs);
          return services.origin.forTenant(tenant).embed(inputs, kind);
        },
      }),
    };
    const service = createQueryService({
      tenants: services.tenants,
      embedder: createOriginEmbedder(origin),
      retriever: createRetriever(services.tenantData, services.vectors, services.config),
      origin,
    });
    const input = (query: string, mode: QueryInput["mode"]): QueryInput => ({ query, mode, top_k: 2, cache: true, explain: false });
    const results = await service.batch(
      tenant,
      [input(QUESTIONS.penicillin.query, "hybrid"), input(QUESTIONS.fire.query, "keyword"), input(QUESTIONS.semantic.query, "vector")],
      { requestId: "batch-test", startedAt: performance.now(), defer: () => {} },
    );
    expect(calls).toEqual([[QUESTIONS.penicillin.query, QUESTIONS.semantic.query]]);
    expect(results.map((result) => (result as QueryResponse).sources?.[0]?.document_id)).toEqual(["penicillin", "london-fire", "bees"]);
  });
});

describe("query tenant isolation (security)", () => {
  const intruder = uniqueTenant("query-other");
  let intruderKey = "";
  let intruderChunks = new Map<string, string>();
  const SECRET = {
    id: "secret",
    collection: "history",
    metadata: { lang: "en" },
    text: "The vault combination of the Zanzibar office is forty-two, seventeen, ninety-nine.",
  } satisfies FixtureDocument;

  beforeAll(async () => {
    ({ key: intruderKey } = await createKey(intruder, ["reader"]));
    ({ chunkIds: intruderChunks } = await indexFixture(intruder, [...CORPUS, SECRET]));
  }, 120_000);

  it("never shows a tenant another tenant's chunks, even for the same text", async () => {
    for (const mode of ["hybrid", "vector", "keyword"]) {
      const mine = await query({ query: QUESTIONS.fire.query, mode, top_k: 50 });
      for (const source of mine.sources as Source[]) expect(chunks.has(source.id), `${mode} ${source.id}`).toBe(true);
      const theirs = await query({ query: QUESTIONS.fire.query, mode, top_k: 50 }, intruderKey);
      for (const source of theirs.sources as Source[]) expect(intruderChunks.has(source.id), `${mode} ${source.id}`).toBe(true);
    }
  });

  it("never answers from another tenant's documents", async () => {
    for (const mode of ["hybrid", "vector", "keyword"]) {
      const result = await query({ query: "What is the vault combination of the Zanzibar office?", mode, top_k: 50 });
      expect(documentsOf(result.sources)).not.toContain("secret");
      expect(result.answer).not.toMatch(/forty-two|Zanzibar office is/);
    }
    // The owner does find it.
    const owner = await query({ query: "What is the vault combination of the Zanzibar office?", top_k: 1 }, intruderKey);
    expect(owner.sources[0].document_id).toBe("secret");
  });
});

describe("query with the vector index failing (happy, degraded)", () => {
  it("falls back to keyword retrieval and still generates", async () => {
    // Every call of the index fails, as an outage would; the origin itself is up.
    const outage = () => Promise.reject(new Error("VECTOR_QUERY_ERROR (code = 1000): the index is unavailable"));
    const failingIndex: Vectorize = {
      describe: outage,
      query: outage,
      queryById: outage,
      insert: outage,
      upsert: outage,
      getByIds: outage,
      deleteByIds: outage,
    };
    // cache: false: the same question was answered (and cached) by other tests of this tenant.
    const body = { query: QUESTIONS.fire.query, top_k: 3, cache: false };
    const response = await callWithServices(servicesWith({ vectors: failingIndex }), "/v1/query", { auth: key, body });
    expect(response.status).toBe(200);
    const result = await json(response);
    expect(result.metadata).toMatchObject({ degraded: true, degraded_reasons: ["vector_index_unavailable"] });
    expect(result.sources[0].document_id).toBe("london-fire");
  });
});
