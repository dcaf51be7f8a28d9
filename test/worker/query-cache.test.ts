import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { answerKey } from "../../src/cache/cache-key";
import { createMemoryCacheStats, FLUSH_EVERY_MS } from "../../src/cache/cache-stats";
import { createMemoryStore } from "../../src/cache/cache-store";
import { withEmbeddingCache } from "../../src/cache/cached-embedder";
import { createCachedQueryService } from "../../src/cache/cached-query-service";
import { createTieredCache } from "../../src/cache/tiered-cache";
import { loadConfig } from "../../src/config";
import { createOriginEmbedder } from "../../src/embedding/query-embedder";
import { localServices } from "../../src/local";
import { ANALYTICS_DATA_POINT } from "../../src/middleware/observe";
import { createQueryService, type QueryService } from "../../src/query/query-service";
import { type QueryResponse, querySchemas } from "../../src/query/schemas";
import { createRetriever } from "../../src/retrieval/retrieve";
import { createTenantStore } from "../../src/store/tenant-store";
import {
  bindingsWith,
  type CallOptions,
  callWithBindings,
  createKey,
  DEAD_ORIGIN,
  json,
  localServicesAt,
  testClock,
  uniqueTenant,
} from "./helpers";
import { CORPUS, type FixtureDocument, indexFixture, QUESTIONS, readEvents } from "./query-fixtures";

/**
 * The query cache on the real local stack: workerd's Cache API and KV, Redis behind the Upstash
 * bridge, the real origin. Every call goes through `callAt`, which waits for the response's
 * background work (cache fills, refreshes) as the runtime's waitUntil does, on services whose cache
 * expiries read `clock`: a test moves it past a TTL instead of sleeping.
 */

const tenant = uniqueTenant("qcache");
let key = "";
let admin = "";

beforeAll(async () => {
  ({ key } = await createKey(tenant, ["reader"]));
  ({ key: admin } = await createKey(tenant, ["admin"]));
  await indexFixture(tenant, CORPUS);
}, 120_000);

const clock = testClock();
const services = localServicesAt(clock.now);
const callAt = (bindings: object, path: string, options: CallOptions = {}) => callWithBindings(bindings, path, options, services);

type Body = Record<string, unknown>;
const post = async (bindings: object, path: string, body: Body, auth = key) => {
  const response = await callAt(bindings, path, { auth, body });
  expect(response.status, await response.clone().text()).toBe(200);
  return { body: await json(response), cacheStatus: response.headers.get("cache-status") };
};
const ask = (bindings: object, body: Body, auth = key) => post(bindings, "/v1/query", body, auth);
/** A question no other test of this tenant asks, so each test starts from a miss. */
const fresh = (question: string) => `${question} (${crypto.randomUUID().slice(0, 8)})`;

describe("query cache: misses and hits (happy)", () => {
  it("answers a repeated query from the cache, with Cache-Status", async () => {
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.penicillin.query);
    const first = await ask(bindings, { query, top_k: 3 });
    expect(first.body.metadata.cache).toBe("miss");
    expect(first.cacheStatus).toBe("edge-rag; fwd=miss");

    const second = await ask(bindings, { query, top_k: 3 });
    expect(second.body.metadata).toMatchObject({ cache: "hit", cache_tier: "memory", timings_ms: { embed: 0, retrieve: 0, generate: 0 } });
    expect(second.cacheStatus).toMatch(/^edge-rag; hit; ttl=\d+; detail=memory$/);
    expect(second.body.answer).toBe(first.body.answer);
    expect(second.body.sources).toEqual(first.body.sources);
    expect(second.body.metadata.request_id).not.toBe(first.body.metadata.request_id);
  });

  it("treats NFKC and whitespace variants of a question as the same question", async () => {
    const bindings = bindingsWith({});
    const suffix = crypto.randomUUID().slice(0, 8);
    await ask(bindings, { query: `Who discovered penicillin in 1928? ${suffix}` });
    const variant = await ask(bindings, { query: `  Who  discovered\tpenicillin in １９２８? ${suffix} ` });
    expect(variant.body.metadata.cache).toBe("hit");
  });

  it("serves a new isolate from a slower tier and fills the faster ones", async () => {
    const query = fresh(QUESTIONS.bees.query);
    expect((await ask(bindingsWith({}), { query })).body.metadata.cache).toBe("miss");
    // Another isolate (its own memory tier) in the same location: the Cache API has it.
    expect((await ask(bindingsWith({}), { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "cache-api" });
    // An isolate whose only shared tier is KV: KV has it, and memory is filled from it.
    const kvOnly = bindingsWith({ QUERY_CACHE_TIERS: "memory,kv" });
    expect((await ask(kvOnly, { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "kv" });
    expect((await ask(kvOnly, { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "memory" });
    const redisOnly = bindingsWith({ QUERY_CACHE_TIERS: "redis" });
    expect((await ask(redisOnly, { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "redis" });
  });

  it("fills the colo's tiers from a regional tier with the entry's age: fresh for its TTL in all, not anew", async () => {
    const windows = { QUERY_CACHE_TTL_SECONDS: "10", QUERY_CACHE_SWR_SECONDS: "60" };
    const query = fresh(QUESTIONS.rosetta.query);
    expect((await ask(bindingsWith({ ...windows, QUERY_CACHE_TIERS: "redis" }), { query })).body.metadata.cache).toBe("miss");
    clock.advance(6_000);
    // An isolate elsewhere: its colo has nothing, the regional tier (read next to the data) has the entry.
    const isolate = bindingsWith({ ...windows, QUERY_CACHE_TIERS: "memory,redis" });
    const fromRedis = (await ask(isolate, { query })).body.metadata;
    expect(fromRedis).toMatchObject({ cache: "hit", cache_tier: "redis" });
    expect(fromRedis.cache_ttl_s).toBeLessThanOrEqual(4);
    const fromMemory = (await ask(isolate, { query })).body.metadata;
    expect(fromMemory).toMatchObject({ cache: "hit", cache_tier: "memory" });
    expect(fromMemory.cache_ttl_s).toBeLessThanOrEqual(4);
    clock.advance(4_500);
    expect((await ask(isolate, { query })).body.metadata).toMatchObject({ cache: "stale", cache_tier: "memory" });
    // One refresh makes it fresh everywhere: the regional layer recomputes its own stale entry for it.
    expect((await ask(isolate, { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "memory" });
  });

  it("streams a hit, and fills the cache from a streamed miss once it completed", async () => {
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.fire.query);
    const streamed = await callAt(bindings, "/v1/query", { auth: key, body: { query, stream: true } });
    expect(streamed.headers.get("content-type")).toMatch(/text\/event-stream/);
    const missEvents = await readEvents(streamed);
    expect(JSON.parse(missEvents.at(-1)!.data)).toMatchObject({ cache: "miss" });
    const answer = missEvents
      .filter((event) => event.event === "token")
      .map((event) => JSON.parse(event.data).text)
      .join("");

    const whole = await ask(bindings, { query });
    expect(whole.body.metadata.cache).toBe("hit");
    expect(whole.body.answer).toBe(answer);

    const hitEvents = await readEvents(await callAt(bindings, "/v1/query", { auth: key, body: { query, stream: true } }));
    expect(hitEvents.map((event) => event.event)).toEqual(["sources", "token", "done"]);
    expect(JSON.parse(hitEvents[1]!.data).text).toBe(answer);
    expect(JSON.parse(hitEvents[2]!.data)).toMatchObject({ cache: "hit" });
  });

  it("announces a streamed answer's Cache-Status before the first event, as the JSON answer does", async () => {
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.lovelace.query);
    const stream = (body: Body, headers?: Record<string, string>) => callAt(bindings, "/v1/query", { auth: key, body, headers });

    const miss = await stream({ query, stream: true });
    expect(miss.headers.get("cache-status")).toBe("edge-rag; fwd=miss");
    expect(JSON.parse((await readEvents(miss)).at(-1)!.data)).toMatchObject({ cache: "miss" });

    // Accept: text/event-stream streams too; the completed miss above filled the cache.
    const hit = await stream({ query }, { accept: "text/event-stream" });
    expect(hit.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(hit.headers.get("cache-status")).toMatch(/^edge-rag; hit; ttl=\d+; detail=memory$/);
    expect(JSON.parse((await readEvents(hit)).at(-1)!.data)).toMatchObject({ cache: "hit", cache_tier: "memory" });

    const bypass = await stream({ query, stream: true, cache: false });
    expect(bypass.headers.get("cache-status")).toBe("edge-rag; fwd=bypass");
    expect(JSON.parse((await readEvents(bypass)).at(-1)!.data)).toMatchObject({ cache: "bypass" });
  });

  it("caches /v1/search results and each /v1/query/batch entry", async () => {
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.rosetta.query);
    expect((await post(bindings, "/v1/search", { query, top_k: 5 })).body.metadata.cache).toBe("miss");
    const hit = await post(bindings, "/v1/search", { query, top_k: 5 });
    expect(hit.body.metadata).toMatchObject({ cache: "hit", cache_tier: "memory" });
    expect(hit.cacheStatus).toMatch(/^edge-rag; hit; /);
    expect((await post(bindings, "/v1/search", { query, top_k: 5, group_by: "document" })).body.metadata.cache).toBe("miss");

    const [first, second] = [fresh(QUESTIONS.panama.query), fresh(QUESTIONS.kilimanjaro.query)];
    await post(bindings, "/v1/query/batch", { queries: [{ query: first }] });
    const batch = await post(bindings, "/v1/query/batch", { queries: [{ query: first }, { query: second }] });
    expect(batch.body.results.map((result: QueryResponse) => result.metadata.cache)).toEqual(["hit", "miss"]);
    expect(batch.cacheStatus).toBe('edge-rag; fwd=miss; detail="1 of 2 from cache"');
  });

  // Workers forbid one request awaiting another's pending I/O (test/e2e/concurrency.e2e.test.ts).
  it("computes identical concurrent misses each, sharing no pending work between requests", async () => {
    const services = localServices(env);
    let computations = 0;
    const real = createQueryService({
      tenants: createTenantStore(services.tenantData),
      embedder: createOriginEmbedder(services.origin),
      retriever: createRetriever(services.tenantData, services.vectors, services.config),
      origin: services.origin,
    });
    const counted: QueryService = {
      ...real,
      answer: (...args) => {
        computations++;
        return real.answer(...args);
      },
    };
    const cached = createCachedQueryService({
      inner: counted,
      cache: createTieredCache([createMemoryStore({ maxEntries: 10, maxBytes: 1 << 20 })], { maxEntryBytes: 1 << 20 }),
      tenantState: (t) => createTenantStore(services.tenantData).state(t),
      chunksStillIndexed: (t, ids) => services.tenantData(t).chunksStillIndexed(ids),
      stats: createMemoryCacheStats(),
      config: services.config,
    });
    const input = { query: fresh(QUESTIONS.lovelace.query), top_k: 3, mode: "hybrid" as const, cache: true, explain: false };
    const context = (n: number) => ({ requestId: `coalesce-${n}`, startedAt: performance.now(), defer: () => {} });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => cached.answer(tenant, input, context(n))));
    expect(computations).toBe(5);
    expect(new Set(answers.map((answer) => answer.answer)).size).toBe(1);
    expect(answers.map((answer) => answer.metadata.request_id)).toEqual([
      "coalesce-1",
      "coalesce-2",
      "coalesce-3",
      "coalesce-4",
      "coalesce-5",
    ]);
  });
});

describe("query embedding cache (happy)", () => {
  it("embeds a repeated question once per tenant: other filters, top_k, modes or search make no origin call", async () => {
    const services = localServices(env);
    const embedCalls: string[][] = [];
    const origin = {
      ...services.origin,
      forTenant: (tenant: string) => ({
        ...services.origin.forTenant(tenant),
        embed: (inputs: string[], kind: "query" | "passage") => {
          embedCalls.push(inputs);
          return services.origin.forTenant(tenant).embed(inputs, kind);
        },
      }),
    };
    const tenants = createTenantStore(services.tenantData);
    const embedder = withEmbeddingCache(createOriginEmbedder(origin), {
      cache: createTieredCache([createMemoryStore({ maxEntries: 100, maxBytes: 1 << 22 })], { maxEntryBytes: 1 << 20 }),
      tenantState: tenants.state,
      ttlSeconds: 60,
      dimensions: services.config.EMBEDDING_DIMENSIONS,
    });
    const queries = createQueryService({
      tenants,
      embedder,
      retriever: createRetriever(services.tenantData, services.vectors, services.config),
      origin,
    });
    const context = { requestId: "embedding-cache", startedAt: performance.now(), defer: () => {} };
    const query = fresh(QUESTIONS.semantic.query);

    const first = await queries.answer(tenant, { query, top_k: 3, mode: "hybrid", cache: true, explain: false }, context);
    await queries.answer(
      tenant,
      { query, top_k: 5, mode: "vector", filters: { collection: "science" }, cache: true, explain: false },
      context,
    );
    await queries.search(
      tenant,
      { query: `  ${query} `, top_k: 10, mode: "hybrid", group_by: "document", cache: true, explain: false },
      context,
    );
    expect(embedCalls).toEqual([[query]]);
    expect(first.sources[0]!.document_id).toBe(QUESTIONS.semantic.document);
    // cache: false bypasses this cache too.
    await queries.answer(tenant, { query, top_k: 3, mode: "vector", cache: false, explain: false }, context);
    expect(embedCalls).toEqual([[query], [query]]);

    // Another tenant's identical question is embedded again: no timing tells it what others asked.
    const other = uniqueTenant("qcache-embed");
    await indexFixture(other, CORPUS.slice(0, 1));
    await queries.answer(other, { query, top_k: 3, mode: "vector", cache: true, explain: false }, context);
    expect(embedCalls).toEqual([[query], [query], [query]]);
  });
});

describe("query cache: isolation (security)", () => {
  it("never serves an entry across tenants, filters, top_k or modes", async () => {
    const other = uniqueTenant("qcache-other");
    const { key: otherKey } = await createKey(other, ["reader"]);
    await indexFixture(other, CORPUS, { vectors: false });
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.fire.query);
    await ask(bindings, { query, top_k: 3 });
    expect((await ask(bindings, { query, top_k: 3 })).body.metadata.cache).toBe("hit");
    expect((await ask(bindings, { query, top_k: 3 }, otherKey)).body.metadata.cache).toBe("miss");
    expect((await ask(bindings, { query, top_k: 3, filters: { collection: "history" } })).body.metadata.cache).toBe("miss");
    expect((await ask(bindings, { query, top_k: 4 })).body.metadata.cache).toBe("miss");
    expect((await ask(bindings, { query, top_k: 3, mode: "keyword" })).body.metadata.cache).toBe("miss");
    // Equivalent filters share an entry: a bare value is $eq, and a set's order means nothing.
    await ask(bindings, { query, filters: { collection: "history", lang: { $in: ["en", "de"] } } });
    expect(
      (await ask(bindings, { query, filters: { lang: { $in: ["de", "en"] }, collection: { $eq: "history" } } })).body.metadata.cache,
    ).toBe("hit");
  });

  it("cache: false bypasses every tier and stores nothing", async () => {
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.panama.query);
    const bypass = await ask(bindings, { query, cache: false });
    expect(bypass.body.metadata.cache).toBe("bypass");
    expect(bypass.cacheStatus).toBe("edge-rag; fwd=bypass");
    expect((await ask(bindings, { query })).body.metadata.cache).toBe("miss");
    expect((await ask(bindings, { query, cache: false })).body.metadata.cache).toBe("bypass");
  });
});

describe("query cache: freshness (happy)", () => {
  it("an ingest moves the index version: after the stated bound the query is answered from the new data", async () => {
    const own = uniqueTenant("qcache-ingest");
    const { key: ownKey } = await createKey(own, ["reader"]);
    await indexFixture(own, CORPUS.slice(0, 3));
    const bindings = bindingsWith({ INDEX_VERSION_CACHE_SECONDS: "1" });
    const question = { query: "Which lighthouse keeper logged the comet of 1911?" };
    const before = await ask(bindings, question, ownKey);
    expect((await ask(bindings, question, ownKey)).body.metadata.cache).toBe("hit");

    const lighthouse: FixtureDocument = {
      id: "comet-log",
      collection: "history",
      metadata: { lang: "en" },
      text: "The lighthouse keeper Agnes Whitlow logged the comet of 1911 in the Skerryvore station journal on three clear nights.",
    };
    await indexFixture(own, [lighthouse]);
    clock.advance(1_100); // INDEX_VERSION_CACHE_SECONDS: the bound after which the new version is seen
    const after = await ask(bindings, question, ownKey);
    expect(after.body.metadata.cache).toBe("miss");
    expect(after.body.metadata.index_version).toBeGreaterThan(before.body.metadata.index_version);
    expect(after.body.sources[0].document_id).toBe("comet-log");
  });

  it("a hit past half the bound answers without reading the tenant's state, and re-reads it after the response", async () => {
    const own = uniqueTenant("qcache-swr-state");
    const { key: ownKey } = await createKey(own, ["reader"]);
    await indexFixture(own, CORPUS.slice(0, 3));
    const bindings = bindingsWith({ INDEX_VERSION_CACHE_SECONDS: "2" });
    const question = { query: "Which lighthouse keeper logged the comet of 1911?" };
    const before = await ask(bindings, question, ownKey);
    await indexFixture(own, [
      {
        id: "comet-log",
        collection: "history",
        metadata: { lang: "en" },
        text: "The lighthouse keeper Agnes Whitlow logged the comet of 1911 in the Skerryvore station journal on three clear nights.",
      },
    ]);
    // Past half the bound: answered from the state this isolate holds (the old version: a hit),
    // which is read again after the response.
    clock.advance(1_100);
    const hit = await ask(bindings, question, ownKey);
    expect(hit.body.metadata).toMatchObject({ cache: "hit", index_version: before.body.metadata.index_version });
    // Still within the bound, the next query already sees the new version: the re-read happened.
    clock.advance(100);
    const after = await ask(bindings, question, ownKey);
    expect(after.body.metadata.cache).toBe("miss");
    expect(after.body.metadata.index_version).toBeGreaterThan(before.body.metadata.index_version);
    expect(after.body.sources[0].document_id).toBe("comet-log");
  });

  it("a delete is seen at once by the isolate that made it: no cached answer cites the deleted document", async () => {
    const own = uniqueTenant("qcache-delete");
    const { key: ownKey } = await createKey(own, ["writer"]);
    await indexFixture(own, CORPUS.slice(0, 3));
    const bindings = bindingsWith({ INDEX_VERSION_CACHE_SECONDS: "300" });
    const question = { query: QUESTIONS.penicillin.query, top_k: 3 };
    const before = await ask(bindings, question, ownKey);
    expect(before.body.sources.map((source: { document_id: string }) => source.document_id)).toContain("penicillin");
    expect((await ask(bindings, question, ownKey)).body.metadata.cache).toBe("hit");

    const deleted = await callAt(bindings, "/v1/documents/penicillin", { method: "DELETE", auth: ownKey });
    expect(deleted.status).toBe(204);
    // Well within INDEX_VERSION_CACHE_SECONDS: this isolate forgot the tenant's state, and read the bumped version.
    const after = await ask(bindings, question, ownKey);
    expect(after.body.metadata.cache).toBe("miss");
    expect(after.body.metadata.index_version).toBeGreaterThan(before.body.metadata.index_version);
    expect(after.body.sources.map((source: { document_id: string }) => source.document_id)).not.toContain("penicillin");
  });

  it("another isolate never serves a deleted document's text once the bound has passed", async () => {
    const own = uniqueTenant("qcache-delete-elsewhere");
    const { key: ownKey } = await createKey(own, ["writer"]);
    await indexFixture(own, CORPUS.slice(0, 3));
    // Two isolates: each builds its own services (and isolate caches) for its bindings.
    const deleting = bindingsWith({ INDEX_VERSION_CACHE_SECONDS: "1" });
    const serving = bindingsWith({ INDEX_VERSION_CACHE_SECONDS: "1" });
    const question = { query: QUESTIONS.penicillin.query, top_k: 3 };
    const cited = (response: { body: { sources: Array<{ document_id: string }> } }) =>
      response.body.sources.map((source) => source.document_id);
    expect(cited(await ask(serving, question, ownKey))).toContain("penicillin");
    expect((await ask(serving, question, ownKey)).body.metadata.cache).toBe("hit");
    expect((await callAt(deleting, "/v1/documents/penicillin", { method: "DELETE", auth: ownKey })).status).toBe(204);
    clock.advance(1_100); // INDEX_VERSION_CACHE_SECONDS: the bound
    const after = await ask(serving, question, ownKey);
    expect(after.body.metadata.cache).toBe("miss");
    expect(cited(after)).not.toContain("penicillin");
    expect(JSON.stringify(after.body)).not.toMatch(/Staphylococcus culture plates/);
  });

  it("serves a stale entry past its TTL and refreshes it once in the background", async () => {
    const bindings = bindingsWith({ QUERY_CACHE_TTL_SECONDS: "1", QUERY_CACHE_SWR_SECONDS: "60" });
    const query = fresh(QUESTIONS.kilimanjaro.query);
    await ask(bindings, { query });
    clock.advance(1_100);
    const stale = await ask(bindings, { query });
    expect(stale.body.metadata.cache).toBe("stale");
    expect(stale.body.metadata.cache_ttl_s).toBeLessThanOrEqual(0);
    expect(stale.cacheStatus).toMatch(/^edge-rag; hit; ttl=-?\d+; detail=memory$/);
    // The refresh ran after that response: the entry is fresh again.
    expect((await ask(bindings, { query })).body.metadata.cache).toBe("hit");
  });

  it("DELETE /v1/cache empties the tenant's cache", async () => {
    const bindings = bindingsWith({});
    const query = fresh(QUESTIONS.rosetta.query);
    await ask(bindings, { query });
    expect((await ask(bindings, { query })).body.metadata.cache).toBe("hit");
    expect((await callAt(bindings, "/v1/cache", { method: "DELETE", auth: key })).status).toBe(403);
    expect((await callAt(bindings, "/v1/cache", { method: "DELETE", auth: admin })).status).toBe(204);
    expect((await ask(bindings, { query })).body.metadata.cache).toBe("miss");
  });

  it("with the origin stopped, serves the last good answer as stale instead of an extractive one", async () => {
    const windows = { QUERY_CACHE_TTL_SECONDS: "1", QUERY_CACHE_SWR_SECONDS: "0" };
    const query = fresh(QUESTIONS.bees.query);
    const good = await ask(bindingsWith(windows), { query });
    expect(good.body.metadata).toMatchObject({ cache: "miss", degraded: false });
    clock.advance(1_100); // past TTL and SWR: only the stale-if-error entry is left

    const offline = await ask(bindingsWith({ ...windows, ORIGIN_URLS: DEAD_ORIGIN }), { query });
    expect(offline.body.answer).toBe(good.body.answer);
    expect(offline.body.metadata).toMatchObject({ cache: "stale", degraded: true, degraded_reasons: ["generation_unavailable"] });

    // Without a last good answer, the edge's extractive answer (degraded, not cached) as before.
    const never = await ask(bindingsWith({ ...windows, ORIGIN_URLS: DEAD_ORIGIN }), { query: fresh(QUESTIONS.bees.query) });
    expect(never.body.metadata).toMatchObject({ cache: "miss", degraded: true });
  });

  it("never serves a last good answer that cites a document deleted since (stale-if-error)", async () => {
    const own = uniqueTenant("qcache-sie-delete");
    const { key: ownKey } = await createKey(own, ["writer"]);
    await indexFixture(own, CORPUS.slice(0, 5));
    const windows = { QUERY_CACHE_TTL_SECONDS: "1", QUERY_CACHE_SWR_SECONDS: "0" };
    const question = { query: QUESTIONS.penicillin.query, top_k: 2 };
    const good = await ask(bindingsWith(windows), question, ownKey);
    expect(good.body.sources[0].document_id).toBe("penicillin");
    clock.advance(1_100); // past TTL and SWR: only the stale-if-error entry is left
    // Deleting another document leaves it servable: every chunk it cites is still there.
    const cited = new Set(good.body.sources.map((source: { document_id: string }) => source.document_id));
    const uncited = CORPUS.slice(0, 5).find((document) => !cited.has(document.id))!; // 5 documents, at most 2 cited
    const other = await callAt(bindingsWith(windows), `/v1/documents/${uncited.id}`, { method: "DELETE", auth: ownKey });
    expect(other.status).toBe(204);
    const kept = await ask(bindingsWith({ ...windows, ORIGIN_URLS: DEAD_ORIGIN }), question, ownKey);
    expect(kept.body).toMatchObject({ answer: good.body.answer, metadata: { cache: "stale", degraded: true } });

    expect((await callAt(bindingsWith(windows), "/v1/documents/penicillin", { method: "DELETE", auth: ownKey })).status).toBe(204);
    const offline = await ask(bindingsWith({ ...windows, ORIGIN_URLS: DEAD_ORIGIN }), question, ownKey);
    expect(offline.body.metadata).toMatchObject({ cache: "miss", degraded: true, degraded_reasons: ["generation_unavailable"] });
    expect(JSON.stringify(offline.body)).not.toContain("Fleming");
  });
});

describe("query cache: faults (error)", () => {
  it("treats a corrupt or oversized entry as a miss, never a 5xx, and replaces it", async () => {
    const bindings = bindingsWith({ QUERY_CACHE_TIERS: "kv" });
    const query = fresh(QUESTIONS.penicillin.query);
    const input = querySchemas().QueryRequestSchema.parse({ query });
    const state = await createTenantStore(localServices(env).tenantData).state(tenant);
    const current = await answerKey(tenant, state, input, loadConfig(env).ANSWER_MODEL_TAG);
    const envelope = (value: unknown) => JSON.stringify({ v: 1, stored_at: Date.now(), expires_at: Date.now() + 60_000, value });
    // Well formed, but larger than anything the cache writes (QUERY_CACHE_MAX_ENTRY_BYTES, 256 KiB).
    const oversized = envelope({
      answer: "x".repeat(300 * 1024),
      sources: [],
      metadata: {
        query_time_ms: 1,
        total_sources: 0,
        cache: "miss",
        degraded: false,
        degraded_reasons: [],
        index_version: state.indexVersion,
        request_id: "planted",
        timings_ms: { embed: 0, retrieve: 0, generate: 0 },
      },
    });
    for (const corrupt of ["{not json", envelope({ answer: 42 }), oversized]) {
      await env.KV.put(`query-cache:${current}`, corrupt);
      expect((await ask(bindings, { query })).body.metadata.cache).toBe("miss");
    }
    expect((await ask(bindings, { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "kv" });
  });

  it("falls through a failing KV: the query is answered and says miss", async () => {
    const outage = () => Promise.reject(new Error("KV GET failed: 503 Service Unavailable"));
    const failingKv = { get: outage, put: outage, delete: outage, list: outage, getWithMetadata: outage } as unknown as KVNamespace;
    const bindings = bindingsWith({ QUERY_CACHE_TIERS: "memory,kv", KV: failingKv });
    const query = fresh(QUESTIONS.lovelace.query);
    expect((await ask(bindings, { query })).body.metadata.cache).toBe("miss");
    // The memory tier still took it.
    expect((await ask(bindings, { query })).body.metadata).toMatchObject({ cache: "hit", cache_tier: "memory" });
  });

  it("does not store an answer larger than QUERY_CACHE_MAX_ENTRY_BYTES", async () => {
    const bindings = bindingsWith({ QUERY_CACHE_MAX_ENTRY_BYTES: "1024" });
    const query = fresh(QUESTIONS.fire.query);
    expect((await ask(bindings, { query, top_k: 5 })).body.metadata.cache).toBe("miss");
    expect((await ask(bindings, { query, top_k: 5 })).body.metadata.cache).toBe("miss");
  });
});

describe("query cache: the analytics data point (happy)", () => {
  it("records each answer's cache status and degraded reasons as the routes hand them over: JSON, stream, batch, search", async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const bindings = bindingsWith({ ANALYTICS: { writeDataPoint: (point: AnalyticsEngineDataPoint) => points.push(point) } });
    const column = (name: (typeof ANALYTICS_DATA_POINT.blobs)[number]) => points.at(-1)!.blobs![ANALYTICS_DATA_POINT.blobs.indexOf(name)];
    const query = fresh(QUESTIONS.kilimanjaro.query);
    await ask(bindings, { query });
    expect([column("route"), column("cache_status"), column("degraded_reasons")]).toEqual(["/v1/query", "miss", ""]);
    // A stream's data point waits (in waitUntil) for its end: read it before waiting for that work.
    const ctx = createExecutionContext();
    const request = new Request("http://edge-rag.test/v1/query", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ query, stream: true }),
    });
    const events = await readEvents(await createApp(services).fetch(request, bindings, ctx));
    await waitOnExecutionContext(ctx);
    expect(events.at(-1)!.event).toBe("done");
    expect([column("cache_status"), points.length]).toEqual(["hit", 2]);
    await post(bindings, "/v1/query/batch", { queries: [{ query }, { query: fresh(QUESTIONS.bees.query) }] });
    expect(column("cache_status")).toBe("miss");
    await post(bindingsWith({ ANALYTICS: bindings.ANALYTICS, ORIGIN_URLS: DEAD_ORIGIN }), "/v1/search", { query: fresh(query) });
    expect([column("route"), column("degraded_reasons")]).toEqual(["/v1/search", "embedding_unavailable"]);
  });
});

describe("query cache: stats (happy)", () => {
  it("/v1/stats reports the tenant's hits, misses and hit ratio", async () => {
    const own = uniqueTenant("qcache-stats");
    const { key: ownKey } = await createKey(own, ["reader"]);
    await indexFixture(own, CORPUS.slice(0, 2), { vectors: false });
    const bindings = bindingsWith({ ORIGIN_URLS: DEAD_ORIGIN });
    // Keyword-only, extractive answers are degraded and never cached; search results are.
    await post(bindings, "/v1/search", { query: QUESTIONS.bees.query, mode: "keyword" }, ownKey);
    await post(bindings, "/v1/search", { query: QUESTIONS.bees.query, mode: "keyword" }, ownKey);
    await post(bindings, "/v1/search", { query: QUESTIONS.bees.query, mode: "keyword", cache: false }, ownKey);
    const stats = await json(await callAt(bindings, "/v1/stats", { auth: ownKey }));
    expect(stats.cache).toEqual({ hits: 1, misses: 1, stale: 0, hit_ratio: 0.5, scope: "global" });

    // Counts are flushed to Redis in batches (at most every FLUSH_EVERY_MS): another isolate sees them then.
    clock.advance(FLUSH_EVERY_MS + 100);
    await post(bindings, "/v1/search", { query: QUESTIONS.bees.query, mode: "keyword" }, ownKey);
    const elsewhere = await json(await callAt(bindingsWith({ ORIGIN_URLS: DEAD_ORIGIN }), "/v1/stats", { auth: ownKey }));
    expect(elsewhere.cache).toEqual({ hits: 2, misses: 1, stale: 0, hit_ratio: 0.6667, scope: "global" });
  });
});
