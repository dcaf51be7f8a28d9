import { beforeAll, describe, expect, it } from "vitest";
import { type AnswerEvent, streamAnswer } from "../../src/answer/generate-answer";
import type { OriginClient } from "../../src/origin/origin-client";
import { type FilterPlan, type Filters, filtersSchema, planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { hydrateChunks } from "../../src/retrieval/hydrate";
import { keywordSearch } from "../../src/retrieval/keyword-search";
import { hydrationQuery } from "../../src/tenant/tenant-data";
import { tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { type FixtureDocument, indexFixture } from "./query-fixtures";

/** The SQL that retrieval generates, run in the tenant's real object under workerd (the pure parts: test/unit/retrieval-planning.test.ts). */

const searchScored = async (tenant: string, request: { match: string; plan: FilterPlan; limit: number }) =>
  (await keywordSearch(tenantObject(tenant), request)).hits;
const searchIds = async (tenant: string, request: { match: string; plan: FilterPlan; limit: number }) =>
  (await searchScored(tenant, request)).map((hit) => hit.id);

describe("filters and keyword search in the tenant's object", () => {
  const tenant = uniqueTenant("filters");
  const other = uniqueTenant("filters-other");
  const docs: FixtureDocument[] = [
    { id: "a", collection: "alpha", text: "Granite quarry near the river.", metadata: { lang: "en", year: 1990, draft: true, code: "10" } },
    { id: "b", collection: "alpha", text: "Granite bridge over the river.", metadata: { lang: "de", year: 2005, draft: false, code: 10 } },
    { id: "c", collection: "beta", text: "Granite statue in the square.", metadata: { lang: "en", year: 2020.5, valueOf: "v" } },
    { id: "d", collection: "gamma", text: "Granite steps to the cathedral.", metadata: { lang: "fr", year: "2001", draft: 1 } },
  ];
  let ids: string[] = [];

  beforeAll(async () => {
    const fixture = await indexFixture(tenant, docs, { vectors: false });
    ids = [...fixture.chunkIds.keys()];
    // The same text for another tenant: it must never show up.
    await indexFixture(other, docs, { vectors: false });
  });

  const matching = async (filters: Filters) => {
    const parsed = filtersSchema().parse(filters);
    const found = await hydrateChunks(tenantObject(tenant), { ids, plan: planFilters(parsed) });
    return [...found.values()].map((chunk) => chunk.document_id).sort();
  };

  it.each<[Filters, string[]]>([
    [{ lang: "en" }, ["a", "c"]],
    [{ lang: { $eq: "en" } }, ["a", "c"]],
    [{ lang: { $ne: "en" } }, ["b", "d"]],
    [{ lang: { $in: ["de", "fr"] } }, ["b", "d"]],
    [{ lang: { $nin: ["de", "fr"] } }, ["a", "c"]],
    [{ year: { $lt: 2005 } }, ["a"]],
    [{ year: { $lte: 2005 } }, ["a", "b"]],
    [{ year: { $gt: 2005 } }, ["c"]],
    [{ year: { $gte: 2005 } }, ["b", "c"]],
    [{ year: { $gte: 1990, $lt: 2020 } }, ["a", "b"]],
    // Strings compare with strings only: "2001" is text, not a year.
    [{ year: { $gte: "2000" } }, ["d"]],
    [{ year: 2001 }, []],
    [{ year: "2001" }, ["d"]],
    // Types never coerce: true ≠ 1, "10" ≠ 10.
    [{ draft: true }, ["a"]],
    [{ draft: 1 }, ["d"]],
    [{ draft: false }, ["b"]],
    [{ code: 10 }, ["b"]],
    [{ code: "10" }, ["a"]],
    [{ code: { $in: [10, "10"] } }, ["a", "b"]],
    // A missing key: $ne/$nin match it, $eq/$in/ranges do not (Vectorize semantics).
    [{ draft: { $ne: true } }, ["b", "c", "d"]],
    [{ draft: { $nin: [true, false] } }, ["c", "d"]],
    [{ missing: { $ne: "x" } }, ["a", "b", "c", "d"]],
    [{ missing: "x" }, []],
    [{ missing: { $lt: 5 } }, []],
    [{ collection: "alpha" }, ["a", "b"]],
    [{ collection: { $in: ["beta", "gamma"] } }, ["c", "d"]],
    [{ collection: { $nin: ["alpha"] } }, ["c", "d"]],
    [{ collection: { $ne: "alpha" }, lang: "en" }, ["c"]],
    [{ collection: { $gt: "alpha" } }, ["c", "d"]],
    [{ document_id: "b" }, ["b"]],
    [{ document_id: { $in: ["a", "d", "zzz"] } }, ["a", "d"]],
    // Keys named like Object.prototype's members are metadata keys like any other.
    [{ valueOf: "v" }, ["c"]],
    [{ constructor: 1 }, []],
    [{ toString: { $ne: "x" } }, ["a", "b", "c", "d"]],
  ])("applies %j exactly", async (filters, expected) => {
    expect(await matching(filters)).toEqual(expected);
  });

  it("treats SQL and JSON-path metacharacters in values as data (security)", async () => {
    for (const value of ["' OR 1=1 --", '"); DROP TABLE chunks; --', "$.lang", "%", "\\"]) {
      expect(await matching({ lang: value })).toEqual([]);
      expect(await matching({ lang: { $ne: value } })).toEqual(["a", "b", "c", "d"]);
    }
    const [count] = await tenantSql<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM chunks");
    expect(count?.n).toBe(4);
  });

  it("ranks by BM25 within the tenant and the filter", async () => {
    const plan = planFilters({ collection: "alpha" });
    const found = await searchIds(tenant, { match: toFtsMatchExpression("granite river bridge")!, plan, limit: 10 });
    const byId = new Map(ids.map((id, i) => [id, docs[i]!.id]));
    expect(found.map((id) => byId.get(id))).toEqual(["b", "a"]);
  });

  it("looks candidates up by chunk id, never by scanning the tenant's chunks", async () => {
    const { sql, params } = hydrationQuery({ ids, plan: planFilters({ lang: "en" }) });
    const steps = (await tenantSql<{ detail: string }>(tenant, `EXPLAIN QUERY PLAN ${sql}`, ...params)).map((row) => row.detail);
    expect(steps.find((step) => /^SEARCH c /.test(step))).toMatch(/USING INDEX \S+ \(id=\?\)/);
  });

  it("never returns another tenant's chunks (security)", async () => {
    const found = await searchIds(tenant, { match: toFtsMatchExpression("granite")!, plan: planFilters(undefined), limit: 50 });
    expect(found.sort()).toEqual([...ids].sort());
    const theirs = await hydrateChunks(tenantObject(other), { ids, plan: planFilters(undefined) });
    expect(theirs.size).toBe(0);
  });

  it("runs every injection attempt as plain terms, without an FTS5 error (security)", async () => {
    const attempts = [
      '"',
      '"granite',
      "granite*",
      "gran*",
      "NEAR(granite river)",
      "granite OR",
      "OR",
      "AND NOT",
      "text:granite",
      "chunks_fts:granite",
      "-granite",
      "^granite",
      "(granite",
      "granite)",
      "{text}: granite",
      "rank:1",
      "'",
      ";",
      "\u0000granite",
    ];
    for (const attempt of attempts) {
      const match = toFtsMatchExpression(attempt);
      if (match === null) continue;
      await expect(searchIds(tenant, { match, plan: planFilters(undefined), limit: 5 }), attempt).resolves.toBeInstanceOf(Array);
    }
    // `gran*` must not act as a prefix query: "gran" is not a word of the corpus.
    expect(await searchIds(tenant, { match: toFtsMatchExpression("gran*")!, plan: planFilters(undefined), limit: 5 })).toEqual([]);
  });
});

describe("answer stream when the origin's stream breaks (error)", () => {
  // The real origin cannot be made to break mid-answer on demand, so these feed streamAnswer an
  // upstream SSE body by hand; everything else about streaming runs against the real origin.
  const upstream = (body: string): OriginClient => {
    const unused = () => Promise.reject(new Error("not used"));
    return {
      embed: unused,
      ingest: unused,
      parse: unused,
      generate: unused,
      condense: unused,
      probe: unused,
      generateStream: async () =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(body));
            controller.close();
          },
        }),
    };
  };
  const sources = [{ id: "c1", text: "The Great Fire of London began on Pudding Lane. It burned for four days." }];
  const collect = async (origin: OriginClient) => {
    const events: AnswerEvent[] = [];
    for await (const event of streamAnswer(origin, "Where did the Great Fire of London begin?", sources)) events.push(event);
    return events;
  };

  it("passes tokens through and ends with done (happy)", async () => {
    const events = await collect(
      upstream(
        'event: token\ndata: {"text":"On Pudding"}\n\nevent: token\ndata: {"text":" Lane [1]"}\n\nevent: done\ndata: {"model":"m","citations":[1]}\n\n',
      ),
    );
    // The answer guard may regroup the deltas (it holds a word back until it is complete).
    expect(events.at(-1)).toMatchObject({ type: "done", degraded: false });
    expect(events.slice(0, -1).every((e) => e.type === "token")).toBe(true);
    expect(
      events
        .slice(0, -1)
        .map((e) => (e as { text: string }).text)
        .join(""),
    ).toBe("On Pudding Lane [1]");
  });

  it("ends with an error event, not a made-up ending, when it fails after tokens were sent", async () => {
    for (const body of [
      // "On" is a whole word of plain prose (the next one has begun): the answer guard passes it on at once, so it was sent.
      'event: token\ndata: {"text":"On the "}\n\nevent: error\ndata: {"detail":"upstream secret"}\n\n',
      'event: token\ndata: {"text":"On the "}\n\n',
    ]) {
      const events = await collect(upstream(body));
      expect(events.map((e) => e.type)).toEqual(["token", "error"]);
      const { error } = events[1] as { error: { code: string; status: number; detail: string } };
      expect(error).toMatchObject({ code: "ORIGIN_STREAM_FAILED", status: 502 });
      expect(error.detail).not.toContain("upstream secret");
    }
  });

  it("streams the edge answer instead when it fails before the first token", async () => {
    for (const body of ['event: error\ndata: {"status":500}\n\n', "event: token\ndata: not json\n\n", ""]) {
      const events = await collect(upstream(body));
      expect(events.at(-1)).toMatchObject({ type: "done", degraded: true });
      const text = events
        .filter((e) => e.type === "token")
        .map((e) => (e as { text: string }).text)
        .join("");
      expect(text).toContain("Pudding Lane");
      expect(text).toContain("[1]");
    }
  });
});

describe("per-tenant BM25 statistics (security, correctness)", () => {
  const tenant = uniqueTenant("bm25-own");
  const other = uniqueTenant("bm25-other");
  // "alpha" and "beta" are each in one of the tenant's four chunks; d1 has "alpha" twice.
  const own: FixtureDocument[] = [
    { id: "d1", collection: "default", text: "alpha alpha filler words here", metadata: {} },
    { id: "d2", collection: "default", text: "beta filler words here now", metadata: {} },
    { id: "d3", collection: "default", text: "gamma filler words", metadata: {} },
    { id: "d4", collection: "default", text: "delta filler words", metadata: {} },
  ];
  // Another tenant where "alpha" is everywhere: in a shared index it would make "alpha" worthless.
  const theirs: FixtureDocument[] = Array.from({ length: 20 }, (_, i) => ({
    id: `o${i}`,
    collection: "default",
    text: `alpha common text number ${i}`,
    metadata: {},
  }));
  const search = () => searchScored(tenant, { match: toFtsMatchExpression("alpha beta")!, plan: planFilters(undefined), limit: 10 });

  it("leaves a tenant's keyword ranking (ids and BM25 scores) byte-for-byte unchanged when another tenant adds documents", async () => {
    const { chunkIds } = await indexFixture(tenant, own, { vectors: false });
    const before = await search();
    expect(before.map((hit) => chunkIds.get(hit.id))).toEqual(["d1", "d2"]);
    await indexFixture(other, theirs, { vectors: false });
    // Their own ranking sees their statistics: "alpha" is in every one of their chunks.
    expect(await searchScored(other, { match: toFtsMatchExpression("alpha")!, plan: planFilters(undefined), limit: 50 })).toHaveLength(20);
    const after = await search();
    expect(JSON.stringify(after)).toBe(JSON.stringify(before));
  });

  it("keeps a tenant's keyword index in step with its chunks: a deleted chunk leaves it", async () => {
    const tenant = uniqueTenant("bm25-step");
    const { chunkIds } = await indexFixture(tenant, own, { vectors: false });
    const query = () => searchIds(tenant, { match: toFtsMatchExpression("alpha beta")!, plan: planFilters(undefined), limit: 10 });
    expect((await query()).map((id) => chunkIds.get(id))).toEqual(["d1", "d2"]);
    await tenantSql(tenant, "DELETE FROM chunks WHERE document_id = 'd1'");
    expect((await query()).map((id) => chunkIds.get(id))).toEqual(["d2"]);
    expect(await tenantSql(tenant, "SELECT rowid FROM kw WHERE kw MATCH 'alpha'")).toEqual([]);
  });
});
