/**
 * Behaviour of the LOCAL index that the conformance suite cannot check against a shared real index:
 * persistence across Durable Object eviction and abort, exact describe() bookkeeping, metadata
 * indexes created after the fact, config immutability, the memory ceiling, exactness against a
 * naive search, and the choices made where Vectorize's docs are silent. Real DO, real SQLite.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLocalVectorize, type LocalVectorizeOptions, localVectorIndexStub } from "../../src/vector/create-local-vectorize";
import { defaultCapacity } from "../../src/vector/local-vector-index";
import { describeVectorIndex } from "../../src/vector/vector-index";
import { expectVectorizeError, uniqueName } from "../conformance/vectorize.suite";

function doNamespace() {
  const namespace = env.VECTOR_INDEX_DO;
  if (namespace === undefined) throw new Error("VECTOR_INDEX_DO binding missing from wrangler.toml");
  return namespace;
}

function open(options: Partial<LocalVectorizeOptions> & { indexName: string }) {
  return createLocalVectorize(doNamespace(), { dimensions: 4, metric: "cosine", ...options });
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("persistence (happy)", () => {
  it("keeps vectors, metadata indexes and describe() across evictions; the cache is rebuilt", async () => {
    const indexName = uniqueName("persist");
    const index = open({ indexName, metadataIndexes: { kind: "string" } });
    await index.upsert([
      { id: "a", values: [1, 0, 0, 0], namespace: "t1", metadata: { kind: "x", note: "kept" } },
      { id: "b", values: [0.1, 0.2, 0.3, 0.4], metadata: { kind: "y" } },
    ]);
    const { mutationId } = await index.insert([{ id: "c", values: [0, 1, 0, 0], namespace: "t1", metadata: { kind: "x" } }]);
    const before = await describeVectorIndex(index);
    const stub = localVectorIndexStub(doNamespace(), indexName);
    expect((await stub.memoryStats()).cached).toBe(true);

    // Twice: the second restart also proves the rebuilt state is the persisted one.
    for (let restart = 0; restart < 2; restart++) {
      await evictDurableObject(stub);
      // A fresh instance: nothing cached until the index is used.
      expect((await stub.memoryStats()).cached).toBe(false);
      expect(await describeVectorIndex(index)).toEqual(before);
      expect(before).toMatchObject({ vectorCount: 3, processedUpToMutation: mutationId });
      const [b] = await index.getByIds(["b"]);
      expect(b).toEqual({ id: "b", values: [0.1, 0.2, 0.3, 0.4].map(Math.fround), metadata: { kind: "y" } });
      const result = await index.query([1, 0.1, 0, 0], { namespace: "t1", filter: { kind: "x" }, returnMetadata: "all" });
      expect(result.matches.map((m) => [m.id, m.metadata])).toEqual([
        ["a", { kind: "x", note: "kept" }],
        ["c", { kind: "x" }],
      ]);
      expect((await stub.memoryStats()).cached).toBe(true);
    }
  });
});

describe("describe() bookkeeping (happy)", () => {
  it("starts empty and names exactly the last mutation", async () => {
    const index = open({ indexName: uniqueName("describe") });
    expect(await describeVectorIndex(index)).toEqual({
      vectorCount: 0,
      dimensions: 4,
      processedUpToDatetime: null,
      processedUpToMutation: null,
    });
    const first = await index.upsert([{ id: "a", values: [1, 2, 3, 4] }]);
    const afterFirst = await describeVectorIndex(index);
    expect(afterFirst).toMatchObject({ vectorCount: 1, processedUpToMutation: first.mutationId });
    expect(new Date(afterFirst.processedUpToDatetime!).toISOString()).toBe(afterFirst.processedUpToDatetime);
    const second = await index.deleteByIds(["a", "missing"]);
    expect(await describeVectorIndex(index)).toMatchObject({ vectorCount: 0, processedUpToMutation: second.mutationId });
  });

  it("applies concurrent mutations one at a time and counts exactly", async () => {
    const index = open({ indexName: uniqueName("concurrent") });
    const mutations = await Promise.all(
      Array.from({ length: 20 }, (_, i) => index.upsert([{ id: `v${i}`, values: [i, 1, 0, 0], namespace: `ns${i % 3}` }])),
    );
    expect(new Set(mutations.map((m) => m.mutationId)).size).toBe(20);
    const info = await describeVectorIndex(index);
    expect(info.vectorCount).toBe(20);
    expect(mutations.map((m) => m.mutationId)).toContain(info.processedUpToMutation);
  });
});

describe("metadata indexes created after vectors (happy)", () => {
  it("filters only on vectors written after the index existed, until they are upserted again", async () => {
    const indexName = uniqueName("late-index");
    const early = open({ indexName, metadataIndexes: {} });
    await early.upsert([{ id: "old", values: [1, 0, 0, 0], metadata: { kind: "x" } }]);

    const late = open({ indexName, metadataIndexes: { kind: "string" } });
    const kindX = () => late.query([1, 0, 0, 0], { filter: { kind: "x" }, returnMetadata: "indexed" });
    expect((await kindX()).matches).toEqual([]);
    await late.upsert([{ id: "new", values: [0, 1, 0, 0], metadata: { kind: "x" } }]);
    expect((await kindX()).matches.map((m) => m.id)).toEqual(["new"]);

    // The index's creation point is durable.
    await evictDurableObject(localVectorIndexStub(doNamespace(), indexName));
    expect((await kindX()).matches.map((m) => m.id)).toEqual(["new"]);

    await late.upsert([{ id: "old", values: [1, 0, 0, 0], metadata: { kind: "x" } }]);
    const both = await kindX();
    expect(both.matches.map((m) => [m.id, m.metadata])).toEqual([
      ["old", { kind: "x" }],
      ["new", { kind: "x" }],
    ]);
  });
});

describe("metadata index configuration (happy)", () => {
  it("is additive: an adapter configured without an index does not drop it; a new type recreates it", async () => {
    const indexName = uniqueName("additive");
    const withKind = open({ indexName, metadataIndexes: { kind: "string" } });
    const without = open({ indexName, metadataIndexes: {} });
    await withKind.upsert([{ id: "a", values: [1, 0, 0, 0], metadata: { kind: "x" } }]);
    await without.upsert([{ id: "b", values: [0, 1, 0, 0], metadata: { kind: "x" } }]);
    const ids = async (index: Vectorize, filter: VectorizeVectorMetadataFilter) =>
      (await index.query([1, 1, 0, 0], { filter })).matches.map((m) => m.id).sort();
    expect(await ids(withKind, { kind: "x" })).toEqual(["a", "b"]);
    expect(await ids(without, { kind: "x" })).toEqual(["a", "b"]);

    const asNumber = open({ indexName, metadataIndexes: { kind: "number" } });
    await asNumber.upsert([{ id: "c", values: [0, 0, 1, 0], metadata: { kind: 5 } }]);
    expect(await ids(asNumber, { kind: "x" })).toEqual([]);
    expect(await ids(asNumber, { kind: { $gte: 1 } })).toEqual(["c"]);
  });

  it("refuses an eleventh metadata index across adapters", async () => {
    const indexName = uniqueName("eleven");
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`p${i}`, "string" as const]));
    await open({ indexName, metadataIndexes: ten }).describe();
    await expect(open({ indexName, metadataIndexes: { extra: "number" } }).describe()).rejects.toThrow(
      /^LOCAL_VECTORIZE_ERROR: .*already has 10 metadata indexes/,
    );
  });
});

describe("configuration (error)", () => {
  it("refuses to reopen an index with other dimensions or another metric", async () => {
    const indexName = uniqueName("config");
    await open({ indexName }).upsert([{ id: "a", values: [1, 2, 3, 4] }]);
    await expect(open({ indexName, dimensions: 8 }).describe()).rejects.toThrow(/^LOCAL_VECTORIZE_ERROR: .*cannot be reconfigured/);
    await expect(open({ indexName, metric: "euclidean" }).query([1, 2, 3, 4])).rejects.toThrow(/LOCAL_VECTORIZE_ERROR/);
    await expect(open({ indexName }).getByIds(["a"])).resolves.toHaveLength(1);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => open({ indexName: uniqueName("bad"), dimensions: 0 })).toThrow(TypeError);
    expect(() => open({ indexName: uniqueName("bad"), dimensions: 1537 })).toThrow(TypeError);
    expect(() => open({ indexName: uniqueName("bad"), metric: "manhattan" as VectorizeDistanceMetric })).toThrow(TypeError);
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`p${i}`, "string" as const]));
    expect(() => open({ indexName: uniqueName("bad"), metadataIndexes: eleven })).toThrow(/at most 10/);
    expect(() => open({ indexName: "" })).toThrow(TypeError);
  });

  it("supports the maximum of 1536 dimensions", async () => {
    const index = open({ indexName: uniqueName("wide"), dimensions: 1536 });
    const values = Array.from({ length: 1536 }, (_, i) => Math.sin(i));
    await index.upsert([{ id: "w", values }]);
    const result = await index.query(values, { topK: 1, returnValues: true });
    expect(result.matches[0]!.id).toBe("w");
    expect(result.matches[0]!.score).toBeCloseTo(1, 5);
    expect(result.matches[0]!.values).toEqual(values.map(Math.fround));
  });
});

describe("memory ceiling (error)", () => {
  it("refuses new vectors past its capacity, with a LOCAL_VECTORIZE_ERROR; updates and deletes still work", async () => {
    const index = open({ indexName: uniqueName("full"), capacity: 3 });
    await index.upsert([1, 2, 3].map((i) => ({ id: `v${i}`, values: [i, 0, 0, 1] })));
    await expect(index.upsert([{ id: "v4", values: [4, 0, 0, 1] }])).rejects.toThrow(/^LOCAL_VECTORIZE_ERROR: .*is full/);
    await expect(index.insert([{ id: "v1", values: [9, 9, 9, 9] }])).resolves.toHaveProperty("mutationId");
    await index.upsert([{ id: "v1", values: [5, 0, 0, 1] }]);
    await index.deleteByIds(["v2"]);
    await index.upsert([{ id: "v4", values: [4, 0, 0, 1] }]);
    expect((await describeVectorIndex(index)).vectorCount).toBe(3);
  });

  it("defaults to a capacity that keeps the matrix within 96 MiB (≥ 30k vectors of 512 dims)", () => {
    expect(defaultCapacity(512)).toBeGreaterThanOrEqual(30_000);
    expect(defaultCapacity(512) * 512 * 4).toBeLessThan(96 * 1024 * 1024);
    expect(defaultCapacity(1536)).toBeGreaterThan(10_000);
  });

  it("sizes small namespaces small: 100 namespaces of one 512-d vector stay under 2 MiB", async () => {
    const indexName = uniqueName("sparse");
    const index = open({ indexName, dimensions: 512 });
    await index.upsert(Array.from({ length: 100 }, (_, i) => ({ id: `v${i}`, namespace: `tenant-${i}`, values: Array(512).fill(i + 1) })));
    const stats = await localVectorIndexStub(doNamespace(), indexName).memoryStats();
    expect(stats.vectors).toBe(100);
    expect(stats.matrixBytes).toBeLessThan(2 * 1024 * 1024);
  });
});

describe("exact search (happy)", () => {
  const dims = 24;
  const rand = random(42);
  const vectors = Array.from({ length: 2600 }, (_, i) => ({
    id: `r${i}`,
    namespace: i % 5 === 0 ? "other" : "main",
    values: Array.from({ length: dims }, () => rand() * 2 - 1),
    metadata: { bucket: i % 7 },
  }));

  function naive(metric: VectorizeDistanceMetric, query: number[], pool: typeof vectors, topK: number) {
    const scored = pool.map((v) => {
      const x = v.values.map(Math.fround);
      const dot = x.reduce((s, xi, i) => s + xi * query[i]!, 0);
      const score =
        metric === "cosine"
          ? dot / (Math.hypot(...x) * Math.hypot(...query))
          : metric === "euclidean"
            ? Math.sqrt(x.reduce((s, xi, i) => s + (xi - query[i]!) ** 2, 0))
            : -dot;
      return { id: v.id, score };
    });
    scored.sort((a, b) => (metric === "cosine" ? b.score - a.score : a.score - b.score));
    return scored.slice(0, topK);
  }

  for (const metric of ["cosine", "euclidean", "dot-product"] as const) {
    it(`matches a naive ${metric} search over multi-block namespaces, with filters, upserts and deletes`, async () => {
      const index = open({ indexName: uniqueName(`exact-${metric}`), dimensions: dims, metric, metadataIndexes: { bucket: "number" } });
      for (let i = 0; i < vectors.length; i += 1000) await index.upsert(vectors.slice(i, i + 1000));
      // Delete across block boundaries (rows are swap-removed) and move some vectors between namespaces.
      const deleted = new Set(vectors.filter((_, i) => i % 3 === 1 || i === 0 || i === 1030).map((v) => v.id));
      const ids = [...deleted];
      for (let i = 0; i < ids.length; i += 100) await index.deleteByIds(ids.slice(i, i + 100));
      const moved = vectors.filter((v, i) => !deleted.has(v.id) && i % 11 === 0).map((v) => ({ ...v, namespace: "other" }));
      await index.upsert(moved);
      const live = vectors.filter((v) => !deleted.has(v.id)).map((v) => moved.find((m) => m.id === v.id) ?? v);
      expect((await describeVectorIndex(index)).vectorCount).toBe(live.length);

      for (let q = 0; q < 5; q++) {
        const query = Array.from({ length: dims }, () => rand() * 2 - 1);
        const cases = [
          { options: { topK: 10, namespace: "main" }, pool: live.filter((v) => v.namespace === "main") },
          { options: { topK: 100 }, pool: live },
          {
            options: { topK: 20, namespace: "other", filter: { bucket: { $gte: 2, $lt: 5 } } },
            pool: live.filter((v) => v.namespace === "other" && v.metadata.bucket >= 2 && v.metadata.bucket < 5),
          },
        ];
        for (const { options, pool } of cases) {
          const expected = naive(metric, query, pool, options.topK);
          const result = await index.query(query, options);
          expect(result.matches.map((m) => m.id)).toEqual(expected.map((e) => e.id));
          for (const [i, m] of result.matches.entries()) expect(m.score).toBeCloseTo(expected[i]!.score, 4);
        }
      }
    });
  }
});

describe("limits at their exact boundary (error)", () => {
  it("accepts a filter of 2047 bytes of compact JSON and rejects 2048", async () => {
    const index = open({ indexName: uniqueName("filter-size"), metadataIndexes: { kind: "string" } });
    const filterOf = (bytes: number) => {
      const filter = { kind: { $in: ["x"] } };
      const overhead = new TextEncoder().encode(JSON.stringify(filter)).length - 1; // minus the "x"
      return { kind: { $in: ["x".repeat(bytes - overhead)] } };
    };
    await expect(index.query([1, 0, 0, 0], { filter: filterOf(2047) })).resolves.toMatchObject({ count: 0 });
    await expectVectorizeError(index.query([1, 0, 0, 0], { filter: filterOf(2048) }), {
      operation: "VECTOR_QUERY",
      message: /less than 2048 bytes, got 2048 bytes/,
    });
  });

  it("accepts metadata of exactly 10 KiB of JSON and rejects one byte more", async () => {
    const index = open({ indexName: uniqueName("meta-size") });
    const metadataOf = (bytes: number) => ({ blob: "m".repeat(bytes - '{"blob":""}'.length) });
    await expect(index.upsert([{ id: "ok", values: [1, 0, 0, 0], metadata: metadataOf(10 * 1024) }])).resolves.toHaveProperty("mutationId");
    await expectVectorizeError(index.upsert([{ id: "big", values: [1, 0, 0, 0], metadata: metadataOf(10 * 1024 + 1) }]), {
      operation: "VECTOR_UPSERT",
      message: /got 10241 bytes/,
    });
  });
});

describe("choices where the docs are silent (documented in docs/vectorize-conformance.md)", () => {
  it("a query without a namespace searches every namespace", async () => {
    const index = open({ indexName: uniqueName("global") });
    await index.upsert([
      { id: "n1", values: [1, 0, 0, 0], namespace: "a" },
      { id: "n2", values: [0.9, 0.1, 0, 0], namespace: "b" },
      { id: "n3", values: [0.8, 0.2, 0, 0] },
    ]);
    const result = await index.query([1, 0, 0, 0], { topK: 10 });
    expect(result.matches.map((m) => [m.id, m.namespace])).toEqual([
      ["n1", "a"],
      ["n2", "b"],
      ["n3", undefined],
    ]);
  });

  it("treats a property missing from the index as null: $ne/$nin match it, $eq/$in/ranges do not", async () => {
    const index = open({ indexName: uniqueName("absent"), metadataIndexes: { kind: "string", size: "number" } });
    await index.upsert([
      { id: "has", values: [1, 0, 0, 0], metadata: { kind: "x", size: 3 } },
      { id: "lacks", values: [0.9, 0.1, 0, 0], metadata: { other: true } },
      { id: "wrong-type", values: [0.8, 0.2, 0, 0], metadata: { kind: 7, size: "big" } },
    ]);
    const ids = async (filter: VectorizeVectorMetadataFilter) =>
      (await index.query([1, 0, 0, 0], { filter })).matches.map((m) => m.id).sort();
    expect(await ids({ kind: { $ne: "x" } })).toEqual(["lacks", "wrong-type"]);
    expect(await ids({ kind: { $nin: ["x"] } })).toEqual(["lacks", "wrong-type"]);
    expect(await ids({ kind: null })).toEqual(["lacks", "wrong-type"]);
    expect(await ids({ kind: { $ne: null } })).toEqual(["has"]);
    expect(await ids({ size: { $gte: 0 } })).toEqual(["has"]);
    expect(await ids({ kind: 7 })).toEqual([]); // not indexed: 7 is not a string
    expect(await ids({ unindexed: "x" })).toEqual([]); // no metadata index for this property
  });

  it("compares strings on their indexed 64-byte prefix and returns nested indexed metadata as objects", async () => {
    const index = open({ indexName: uniqueName("prefix"), metadataIndexes: { title: "string", "doc.lang": "string" } });
    const title = `${"t".repeat(64)}-and-a-long-tail`;
    await index.upsert([{ id: "long", values: [1, 0, 0, 0], metadata: { title, doc: { lang: "en", pages: 2 } } }]);
    for (const filter of [{ title }, { title: "t".repeat(64) }, { title: `${"t".repeat(64)}-different-tail` }]) {
      expect((await index.query([1, 0, 0, 0], { filter })).count).toBe(1);
    }
    const result = await index.query([1, 0, 0, 0], { returnMetadata: "indexed" });
    expect(result.matches[0]!.metadata).toEqual({ title: "t".repeat(64), doc: { lang: "en" } });
  });

  it("scores a zero vector 0 under cosine instead of NaN", async () => {
    const index = open({ indexName: uniqueName("zero") });
    await index.upsert([{ id: "z", values: [0, 0, 0, 0] }]);
    const result = await index.query([1, 2, 3, 4]);
    expect(result.matches).toEqual([{ id: "z", score: 0 }]);
  });

  it("rejects an empty batch and an empty namespace instead of guessing", async () => {
    const index = open({ indexName: uniqueName("empty") });
    await expectVectorizeError(index.upsert([]), { operation: "VECTOR_UPSERT" });
    await expectVectorizeError(index.insert([{ id: "a", values: [1, 2, 3, 4], namespace: "" }]), { operation: "VECTOR_INSERT" });
    await expectVectorizeError(index.query([1, 2, 3, 4], { topK: 0 }), { operation: "VECTOR_QUERY" });
    await expectVectorizeError(index.upsert([{ id: "nan", values: [1, Number.NaN, 3, 4] }]), { operation: "VECTOR_UPSERT" });
  });
});
