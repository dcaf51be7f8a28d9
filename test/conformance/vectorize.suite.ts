/**
 * Vectorize (V2) conformance suite: the documented behaviour of a `Vectorize` index, written so the
 * SAME tests run against the local Durable Object index and a real Vectorize index.
 *
 * Rules that keep it portable:
 * - every read that depends on an earlier write goes through `eventually()` (Vectorize applies
 *   mutations asynchronously);
 * - every test uses fresh random ids and its own namespace, so the suite can share a real index
 *   with other runs and never needs it empty;
 * - assertions are about documented behaviour (links below); where production disagrees with the
 *   docs and the production behaviour is known, the test says "observed" and follows production.
 *
 * Docs: https://developers.cloudflare.com/vectorize/reference/client-api/
 *       https://developers.cloudflare.com/vectorize/platform/limits/
 *       https://developers.cloudflare.com/vectorize/reference/metadata-filtering/
 *       https://developers.cloudflare.com/vectorize/best-practices/insert-vectors/
 *       https://developers.cloudflare.com/vectorize/best-practices/query-vectors/
 *       https://developers.cloudflare.com/vectorize/best-practices/create-indexes/#distance-metrics
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export type MetadataIndexType = "string" | "number" | "boolean";

/** The index under test. It must have CONFORMANCE_METADATA_INDEXES and at least 8 dimensions. */
export interface ConformanceTarget {
  index: Vectorize;
  dimensions: number;
  metric: VectorizeDistanceMetric;
  metadataIndexes: Readonly<Record<string, MetadataIndexType>>;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** How long to wait for a mutation to become visible, and how often to look. */
  eventualConsistency: { timeoutMs: number; pollMs: number };
}

/** Metadata indexes the suite filters on; create them before inserting (see docs/vectorize-conformance.md). */
export const CONFORMANCE_METADATA_INDEXES = {
  kind: "string",
  rank: "number",
  flag: "boolean",
  title: "string",
  "doc.lang": "string",
} as const satisfies Record<string, MetadataIndexType>;

export const CONFORMANCE_MIN_DIMENSIONS = 8;

/** Unique, ≤ 40-byte identifier: safe to use on a shared real index. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
}

/**
 * Retries `check` until it stops throwing or `timeoutMs` passes, then rethrows its last error.
 * The one place the suite waits for Vectorize's eventual consistency.
 */
export async function eventually<T>(check: () => Promise<T>, { timeoutMs, pollMs }: { timeoutMs: number; pollMs: number }): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}

/** Awaits a rejection and checks it has the Vectorize binding's error shape. */
export async function expectVectorizeError(
  promise: Promise<unknown>,
  expected: { operation: string; code?: number; message?: RegExp },
): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${expected.operation}_ERROR, but the call succeeded`).toBeInstanceOf(Error);
  const message = (error as Error).message;
  expect(message).toMatch(new RegExp(`^${expected.operation}_ERROR\\b`));
  if (expected.code !== undefined) expect(message).toContain(`(code = ${expected.code})`);
  if (expected.message !== undefined) expect(message).toMatch(expected.message);
  return error as Error;
}

const sortIds = (items: readonly { id: string }[]) => items.map((m) => m.id).sort();

/** Wraps an index so every id written through it is remembered, for deletion after the suite. */
function trackingWrites(index: Vectorize, written: Set<string>): Vectorize {
  const remember = (vectors: VectorizeVector[]) => {
    if (Array.isArray(vectors)) for (const v of vectors) if (typeof v?.id === "string") written.add(v.id);
  };
  return {
    describe: () => index.describe(),
    query: (vector, opts) => index.query(vector, opts),
    queryById: (id, opts) => index.queryById(id, opts),
    getByIds: (ids) => index.getByIds(ids),
    deleteByIds: (ids) => index.deleteByIds(ids),
    insert: async (vectors) => {
      const mutation = await index.insert(vectors);
      remember(vectors);
      return mutation;
    },
    upsert: async (vectors) => {
      const mutation = await index.upsert(vectors);
      remember(vectors);
      return mutation;
    },
  };
}

export function describeVectorizeConformance(name: string, getIndex: () => Promise<ConformanceTarget>, options: ConformanceOptions): void {
  const wait = options.eventualConsistency;
  // Generous per-test budget: a test may wait for several mutations.
  const testTimeout = wait.timeoutMs * 4 + 10_000;

  describe(name, { timeout: testTimeout }, () => {
    let target: ConformanceTarget;
    let index: Vectorize;
    let dims: number;
    let metric: VectorizeDistanceMetric;
    const written = new Set<string>();

    beforeAll(async () => {
      target = await getIndex();
      ({ dimensions: dims, metric } = target);
      index = trackingWrites(target.index, written);
      expect(dims, "the suite needs at least 8 dimensions").toBeGreaterThanOrEqual(CONFORMANCE_MIN_DIMENSIONS);
      for (const [property, type] of Object.entries(CONFORMANCE_METADATA_INDEXES)) {
        expect(target.metadataIndexes[property], `metadata index ${property} (${type}) is required`).toBe(type);
      }
    }, testTimeout);

    afterAll(async () => {
      // Leave a shared real index as we found it (ids that were rejected are simply absent).
      const ids = [...written].filter((id) => new TextEncoder().encode(id).length <= 64);
      for (let i = 0; i < ids.length; i += 100) await target?.index.deleteByIds(ids.slice(i, i + 100));
      await target?.cleanup();
    }, testTimeout);

    // ---- vector helpers (all vectors live in the e0/e1 plane unless stated) ----

    /** A vector of `dims` numbers with the given leading values. */
    const vec = (...lead: number[]): number[] => Array.from({ length: dims }, (_, i) => lead[i] ?? 0);
    /** Unit vector at `degrees` in the e0/e1 plane: same ranking under every metric. */
    const unit = (degrees: number): number[] => {
      const r = (degrees * Math.PI) / 180;
      return vec(Math.cos(r), Math.sin(r));
    };
    const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
    /** The documented score of `stored` for `query` under the index metric. */
    const expectedScore = (query: number[], stored: number[]): number => {
      const v = stored.map(Math.fround);
      if (metric === "cosine") return dot(query, v) / (norm(query) * norm(v));
      if (metric === "euclidean") return Math.sqrt(query.reduce((s, x, i) => s + (x - v[i]!) ** 2, 0));
      return -dot(query, v); // "Negative dot product"
    };
    /** True when score `a` is at least as close as `b`: cosine higher is closer, the others lower. */
    const atLeastAsClose = (a: number, b: number) => (metric === "cosine" ? a >= b : a <= b);

    const waitForIds = (ids: string[], present = true) =>
      eventually(async () => {
        const found = await index.getByIds(ids);
        expect(sortIds(found)).toEqual(present ? [...ids].sort() : []);
        return found;
      }, wait);

    /** Waits until a query in `namespace` returns exactly `ids`. */
    const waitForQueryable = (namespace: string, ids: string[]) =>
      eventually(async () => {
        const result = await index.query(unit(0), { namespace, topK: 100 });
        expect(sortIds(result.matches)).toEqual([...ids].sort());
      }, wait);

    /** Upserts vectors into a fresh namespace and waits until a query there sees all of them. */
    const seed = async (vectors: Omit<VectorizeVector, "namespace">[]) => {
      const namespace = uniqueName("ns");
      await index.upsert(vectors.map((v) => ({ ...v, namespace })));
      await waitForQueryable(
        namespace,
        vectors.map((v) => v.id),
      );
      return namespace;
    };

    describe("describe()", () => {
      it("reports the configured dimensions and a numeric vector count", async () => {
        const info = await index.describe();
        expect(info.dimensions).toBe(dims);
        expect(typeof info.vectorCount).toBe("number");
        expect(info.vectorCount).toBeGreaterThanOrEqual(0);
      });

      it("counts inserted vectors and names the last processed mutation", async () => {
        const ids = [uniqueName("count"), uniqueName("count"), uniqueName("count")];
        await index.upsert(ids.map((id, i) => ({ id, values: unit(i * 10) })));
        await waitForIds(ids);
        const info = await eventually(async () => {
          const current = await index.describe();
          expect(current.vectorCount).toBeGreaterThanOrEqual(ids.length);
          expect(typeof current.processedUpToMutation).toBe("string");
          return current;
        }, wait);
        // Wire format: an ISO 8601 datetime and the mutation's id (workers-types says number).
        expect(Number.isNaN(Date.parse(String(info.processedUpToDatetime)))).toBe(false);
        expect(String(info.processedUpToMutation).length).toBeGreaterThan(0);
      });
    });

    describe("insert / upsert / getByIds / deleteByIds", () => {
      it("insert returns a mutation id and the vectors become readable with values, namespace and metadata", async () => {
        const id = uniqueName("ins");
        const namespace = uniqueName("ns");
        // Metadata is arbitrary JSON; workers-types is narrower than what Vectorize stores.
        const metadata = { kind: "alpha", nested: { deep: [1, 2] } } as unknown as VectorizeVector["metadata"];
        const mutation = await index.insert([{ id, values: vec(1, 2, 3), namespace, metadata }]);
        expect(typeof mutation.mutationId).toBe("string");
        expect(mutation.mutationId.length).toBeGreaterThan(0);
        const [stored] = await waitForIds([id]);
        expect(stored!.values).toEqual(vec(1, 2, 3));
        expect(stored!.namespace).toBe(namespace);
        expect(stored!.metadata).toEqual({ kind: "alpha", nested: { deep: [1, 2] } });
      });

      it("every mutation gets its own mutation id", async () => {
        const id = uniqueName("mut");
        const a = await index.upsert([{ id, values: unit(0) }]);
        const b = await index.upsert([{ id, values: unit(5) }]);
        const c = await index.deleteByIds([id]);
        expect(new Set([a.mutationId, b.mutationId, c.mutationId]).size).toBe(3);
      });

      it("round-trips values at float32 precision, from number[], Float32Array and Float64Array", async () => {
        const raw = vec(0.1, 1 / 3, -123.456, Math.PI, 1e-7, 65504.123, -0.5, 2 ** -20);
        const ids = [uniqueName("f32"), uniqueName("f32"), uniqueName("f32")];
        await index.upsert([
          { id: ids[0]!, values: raw },
          { id: ids[1]!, values: new Float32Array(raw) },
          { id: ids[2]!, values: new Float64Array(raw) },
        ]);
        const found = await waitForIds(ids);
        for (const vector of found) {
          expect(Array.from(vector.values)).toEqual(raw.map(Math.fround));
        }
      });

      it("insert does not overwrite an existing id and does not fail; new ids in the batch are inserted", async () => {
        const existing = uniqueName("dup");
        const fresh = uniqueName("new");
        await index.insert([{ id: existing, values: vec(1), metadata: { kind: "first" } }]);
        await waitForIds([existing]);
        await index.insert([
          { id: existing, values: vec(0, 1), metadata: { kind: "second" } },
          { id: fresh, values: vec(0, 0, 1) },
        ]);
        // Once the fresh id is visible the whole mutation has been processed.
        await waitForIds([fresh]);
        const [kept] = await index.getByIds([existing]);
        expect(kept!.values).toEqual(vec(1));
        expect(kept!.metadata).toEqual({ kind: "first" });
      });

      it("insert keeps the first of two vectors with the same id in one batch", async () => {
        const id = uniqueName("dup1");
        await index.insert([
          { id, values: vec(1), metadata: { kind: "first" } },
          { id, values: vec(0, 1), metadata: { kind: "second" } },
        ]);
        const [kept] = await waitForIds([id]);
        expect(kept!.metadata).toEqual({ kind: "first" });
      });

      it("upsert replaces the whole vector: values, metadata (not merged) and namespace", async () => {
        const id = uniqueName("ups");
        const before = uniqueName("ns");
        const after = uniqueName("ns");
        await index.upsert([{ id, values: unit(0), namespace: before, metadata: { kind: "old", rank: 1 } }]);
        await waitForQueryable(before, [id]);
        await index.upsert([{ id, values: unit(30), namespace: after, metadata: { kind: "new" } }]);
        await eventually(async () => {
          const [stored] = await index.getByIds([id]);
          expect(stored!.metadata).toEqual({ kind: "new" });
          expect(stored!.namespace).toBe(after);
          expect(stored!.values).toEqual(unit(30).map(Math.fround));
        }, wait);
        await waitForQueryable(after, [id]);
        await waitForQueryable(before, []);
      });

      it("upsert keeps the last of two vectors with the same id in one batch", async () => {
        const id = uniqueName("dup2");
        await index.upsert([
          { id, values: vec(1), metadata: { kind: "first" } },
          { id, values: vec(0, 1), metadata: { kind: "last" } },
        ]);
        await eventually(async () => {
          const [kept] = await index.getByIds([id]);
          expect(kept?.metadata).toEqual({ kind: "last" });
        }, wait);
      });

      it("getByIds omits unknown ids and returns [] for an empty list", async () => {
        const id = uniqueName("get");
        await index.upsert([{ id, values: vec(1) }]);
        await waitForIds([id]);
        const found = await index.getByIds([id, uniqueName("missing")]);
        expect(sortIds(found)).toEqual([id]);
        expect(await index.getByIds([])).toEqual([]);
      });

      it("deleteByIds removes vectors from getByIds, queries and the count; unknown ids are ignored", async () => {
        const keep = uniqueName("keep");
        const drop = uniqueName("drop");
        const namespace = await seed([
          { id: keep, values: unit(0) },
          { id: drop, values: unit(1) },
        ]);
        const countBefore = (await index.describe()).vectorCount;
        const mutation = await index.deleteByIds([drop, uniqueName("never-existed")]);
        expect(typeof mutation.mutationId).toBe("string");
        await waitForIds([drop], false);
        await waitForQueryable(namespace, [keep]);
        await eventually(async () => {
          expect((await index.describe()).vectorCount).toBeLessThan(countBefore);
        }, wait);
      });
    });

    describe("namespaces", () => {
      it("a query in namespace A never returns vectors of namespace B", async () => {
        const a = uniqueName("ns-a");
        const b = uniqueName("ns-b");
        const inA = [uniqueName("a"), uniqueName("a")];
        const inB = [uniqueName("b"), uniqueName("b"), uniqueName("b")];
        await index.upsert([
          ...inA.map((id, i) => ({ id, namespace: a, values: unit(20 + i) })),
          // B's vectors are closer to the query than A's.
          ...inB.map((id, i) => ({ id, namespace: b, values: unit(i) })),
        ]);
        await waitForQueryable(a, inA);
        await waitForQueryable(b, inB);
        const result = await index.query(unit(0), { namespace: a, topK: 100, returnMetadata: "indexed" });
        expect(sortIds(result.matches)).toEqual([...inA].sort());
        const byId = await index.queryById(inB[0]!, { namespace: a, topK: 100 });
        expect(sortIds(byId.matches)).toEqual([...inA].sort());
      });

      it("a query in a namespace that has no vectors returns no matches", async () => {
        const result = await index.query(unit(0), { namespace: uniqueName("empty"), topK: 10 });
        expect(result).toEqual({ count: 0, matches: [] });
      });
    });

    describe("query", () => {
      it("orders matches closest first, returns 5 by default and count equals matches.length", async () => {
        const ids = Array.from({ length: 7 }, (_, i) => `q${i}-${uniqueName("o")}`);
        const namespace = await seed(ids.map((id, i) => ({ id, values: unit(i * 12) })));
        const result = await index.query(unit(0), { namespace });
        expect(result.matches.map((m) => m.id)).toEqual(ids.slice(0, 5));
        expect(result.count).toBe(result.matches.length);
        for (let i = 1; i < result.matches.length; i++) {
          expect(atLeastAsClose(result.matches[i - 1]!.score, result.matches[i]!.score)).toBe(true);
        }
      });

      it("returns every vector when topK exceeds what the namespace holds", async () => {
        const ids = [uniqueName("few"), uniqueName("few")];
        const namespace = await seed(ids.map((id, i) => ({ id, values: unit(i) })));
        const result = await index.query(unit(0), { namespace, topK: 50 });
        expect(sortIds(result.matches)).toEqual([...ids].sort());
      });

      it(`scores each match by the index metric (high-precision scoring with returnValues)`, async () => {
        const stored = { near: vec(1, 2, 0.5, -1), far: vec(-3, 0.25, 4, 2), mid: vec(0.5, 1.5, -0.5, 0) };
        const ids = Object.fromEntries(Object.keys(stored).map((k) => [k, uniqueName(k)]));
        const namespace = await seed(Object.entries(stored).map(([k, values]) => ({ id: ids[k]!, values })));
        const query = vec(0.9, 2.1, 0.4, -1.2);
        const result = await index.query(query, { namespace, topK: 3, returnValues: true });
        expect(result.matches).toHaveLength(3);
        for (const [key, values] of Object.entries(stored)) {
          const match = result.matches.find((m) => m.id === ids[key]);
          expect(match, key).toBeDefined();
          expect(match!.score).toBeCloseTo(expectedScore(query, values), 4);
        }
        const expectedOrder = Object.keys(stored)
          .sort((x, y) => {
            const sx = expectedScore(query, stored[x as keyof typeof stored]);
            const sy = expectedScore(query, stored[y as keyof typeof stored]);
            return metric === "cosine" ? sy - sx : sx - sy;
          })
          .map((k) => ids[k]);
        expect(result.matches.map((m) => m.id)).toEqual(expectedOrder);
      });

      it("accepts Float32Array and Float64Array query vectors", async () => {
        const id = uniqueName("typed");
        const namespace = await seed([{ id, values: unit(0) }]);
        for (const query of [new Float32Array(unit(0)), new Float64Array(unit(0))]) {
          const result = await index.query(query, { namespace, topK: 1 });
          expect(result.matches.map((m) => m.id)).toEqual([id]);
        }
      });

      it("returnValues returns the stored float32 values; without it no values are returned", async () => {
        const id = uniqueName("vals");
        const values = vec(0.1, 0.2, 0.3);
        const namespace = await seed([{ id, values }]);
        const withValues = await index.query(values, { namespace, topK: 1, returnValues: true });
        expect(withValues.matches[0]!.values).toEqual(values.map(Math.fround));
        const without = await index.query(values, { namespace, topK: 1 });
        expect(without.matches[0]!.values).toBeUndefined();
      });

      it('returnMetadata "none" (the default) returns no metadata, "all" and true return all of it', async () => {
        const id = uniqueName("meta");
        const metadata = { kind: "alpha", note: "not indexed", doc: { lang: "en", pages: 3 } };
        const namespace = await seed([{ id, values: unit(0), metadata }]);
        for (const level of [undefined, "none"] as const) {
          const result = await index.query(unit(0), { namespace, topK: 1, returnMetadata: level });
          const returned = result.matches[0]!.metadata;
          expect(returned === undefined || Object.keys(returned).length === 0).toBe(true);
        }
        for (const level of ["all", true] as const) {
          const result = await index.query(unit(0), { namespace, topK: 1, returnMetadata: level });
          expect(result.matches[0]!.metadata).toEqual(metadata);
        }
      });

      it('returnMetadata "indexed" returns only indexed properties, strings cut to 64 bytes on a UTF-8 boundary', async () => {
        const id = uniqueName("idx");
        // 63 ASCII bytes + "é" (2 bytes) crosses the 64-byte limit: the é must be dropped, not split.
        const title = `${"a".repeat(63)}é and more`;
        const namespace = await seed([{ id, values: unit(0), metadata: { kind: "alpha", note: "not indexed", title } }]);
        const result = await index.query(unit(0), { namespace, topK: 1, returnMetadata: "indexed" });
        const returned = result.matches[0]!.metadata!;
        expect(returned.kind).toBe("alpha");
        expect(returned.note).toBeUndefined();
        expect(returned.title).toBe("a".repeat(63));
      });

      it("queryById searches with a stored vector, honouring namespace and topK", async () => {
        const ids = [uniqueName("qb"), uniqueName("qb"), uniqueName("qb")];
        const namespace = await seed(ids.map((id, i) => ({ id, values: unit(i * 20) })));
        const result = await index.queryById(ids[0]!, { namespace, topK: 2, returnValues: true });
        expect(result.matches.map((m) => m.id)).toEqual([ids[0], ids[1]]);
        expect(result.matches[0]!.score).toBeCloseTo(expectedScore(unit(0), unit(0)), 4);
      });

      it("queryById of an unknown id yields no matches", async () => {
        const outcome = await index.queryById(uniqueName("nope"), { topK: 3 }).then(
          (result) => result.matches,
          (error: unknown) => error,
        );
        if (outcome instanceof Error) expect(outcome.message).toMatch(/^VECTOR_QUERY_ERROR/);
        else expect(outcome).toEqual([]);
      });
    });

    describe("topK limits", () => {
      let namespace: string;
      beforeAll(async () => {
        namespace = await seed([{ id: uniqueName("topk"), values: unit(0) }]);
      }, testTimeout);

      it("accepts topK 100 without values and with metadata none or indexed", async () => {
        await expect(index.query(unit(0), { namespace, topK: 100 })).resolves.toMatchObject({ count: 1 });
        await expect(index.query(unit(0), { namespace, topK: 100, returnMetadata: "indexed" })).resolves.toMatchObject({
          count: 1,
        });
      });

      it("rejects topK above 100", async () => {
        await expectVectorizeError(index.query(unit(0), { namespace, topK: 101 }), {
          operation: "VECTOR_QUERY",
          message: /max top K is 100/,
        });
      });

      it("caps topK at 50 with returnValues or returnMetadata all (observed: docs say 20, production 50)", async () => {
        await expect(index.query(unit(0), { namespace, topK: 50, returnValues: true, returnMetadata: "all" })).resolves.toMatchObject({
          count: 1,
        });
        for (const opts of [{ returnValues: true }, { returnMetadata: "all" }, { returnMetadata: true }] as const) {
          await expectVectorizeError(index.query(unit(0), { namespace, topK: 51, ...opts }), {
            operation: "VECTOR_QUERY",
            code: 40025,
            message: /max top K is 50, but got 51/,
          });
        }
      });

      it("rejects returnMetadata: false, which the binding forwards verbatim (observed)", async () => {
        await expectVectorizeError(index.query(unit(0), { namespace, returnMetadata: false }), {
          operation: "VECTOR_QUERY",
          code: 40026,
        });
      });

      it("rejects an unknown returnMetadata level before sending the query", async () => {
        const options = { namespace, returnMetadata: "some" } as unknown as VectorizeQueryOptions;
        await expect(index.query(unit(0), options)).rejects.toThrow(/Invalid returnMetadata option/);
      });
    });

    describe("metadata filtering", () => {
      let namespace: string;
      const f = {
        f1: uniqueName("f1"),
        f2: uniqueName("f2"),
        f3: uniqueName("f3"),
        f4: uniqueName("f4"),
        f5: uniqueName("f5"),
      };
      const all = Object.values(f);

      beforeAll(async () => {
        namespace = await seed([
          { id: f.f1, values: unit(0), metadata: { kind: "alpha", rank: 1, flag: true, title: "network", doc: { lang: "en" } } },
          { id: f.f2, values: unit(10), metadata: { kind: "beta", rank: 2, flag: false, title: "netflix", doc: { lang: "fr" } } },
          { id: f.f3, values: unit(20), metadata: { kind: "gamma", rank: 3, flag: true, title: "neutral", doc: { lang: "en" } } },
          { id: f.f4, values: unit(30), metadata: { kind: "alpha", rank: 4.5, flag: false, title: "apple", doc: { lang: "de" } } },
          { id: f.f5, values: unit(40), metadata: { kind: "delta", rank: -1, flag: true, title: "zebra" } },
        ]);
      }, testTimeout);

      const matching = async (filter: VectorizeVectorMetadataFilter, topK = 20) =>
        sortIds((await index.query(unit(0), { namespace, topK, filter })).matches);
      const ids = (...keys: (keyof typeof f)[]) => keys.map((k) => f[k]).sort();

      it("implicit $eq on a string", async () => {
        expect(await matching({ kind: "alpha" })).toEqual(ids("f1", "f4"));
      });

      it("$eq and $ne", async () => {
        expect(await matching({ kind: { $eq: "beta" } })).toEqual(ids("f2"));
        expect(await matching({ kind: { $ne: "alpha" } })).toEqual(ids("f2", "f3", "f5"));
      });

      it("$in and $nin, on strings and numbers", async () => {
        expect(await matching({ kind: { $in: ["beta", "gamma"] } })).toEqual(ids("f2", "f3"));
        expect(await matching({ kind: { $nin: ["alpha", "beta"] } })).toEqual(ids("f3", "f5"));
        expect(await matching({ rank: { $in: [1, 3] } })).toEqual(ids("f1", "f3"));
      });

      it("number ranges $gt $gte $lt $lte, and a lower bound combined with an upper bound", async () => {
        expect(await matching({ rank: { $gt: 2 } })).toEqual(ids("f3", "f4"));
        expect(await matching({ rank: { $gte: 2 } })).toEqual(ids("f2", "f3", "f4"));
        expect(await matching({ rank: { $lt: 2 } })).toEqual(ids("f1", "f5"));
        expect(await matching({ rank: { $lte: 1 } })).toEqual(ids("f1", "f5"));
        expect(await matching({ rank: { $gt: 1, $lte: 3 } })).toEqual(ids("f2", "f3"));
      });

      it("string ranges are lexicographic (prefix search)", async () => {
        expect(await matching({ title: { $gte: "net", $lt: "neu" } })).toEqual(ids("f1", "f2"));
      });

      it("booleans", async () => {
        expect(await matching({ flag: true })).toEqual(ids("f1", "f3", "f5"));
        expect(await matching({ flag: { $eq: false } })).toEqual(ids("f2", "f4"));
        expect(await matching({ flag: { $ne: true } })).toEqual(ids("f2", "f4"));
      });

      it("dotted keys address nested properties", async () => {
        expect(await matching({ "doc.lang": "en" })).toEqual(ids("f1", "f3"));
        expect(await matching({ "doc.lang": { $in: ["fr", "de"] } })).toEqual(ids("f2", "f4"));
      });

      it("several keys are AND-ed", async () => {
        expect(await matching({ "doc.lang": "en", rank: { $gt: 1 } })).toEqual(ids("f3"));
        expect(await matching({ kind: "alpha", flag: false })).toEqual(ids("f4"));
        expect(await matching({ kind: "alpha", flag: true, rank: { $gte: 2 } })).toEqual([]);
      });

      it("the filter applies before topK", async () => {
        // f5 is the farthest from the query, yet it is the one result for topK 1.
        const result = await index.query(unit(0), { namespace, topK: 1, filter: { kind: "delta" } });
        expect(result.matches.map((m) => m.id)).toEqual([f.f5]);
      });

      it("queryById honours the filter", async () => {
        const result = await index.queryById(f.f1, { namespace, topK: 5, filter: { flag: false } });
        expect(sortIds(result.matches)).toEqual(ids("f2", "f4"));
      });

      it("a filter that matches nothing returns no matches", async () => {
        expect(await matching({ kind: "omega" })).toEqual([]);
        expect(all).toHaveLength(5);
      });

      const invalidFilters: [string, unknown][] = [
        ["an empty filter", {}],
        ["an unsupported operator", { kind: { $regex: "^a" } }],
        ["$exists", { kind: { $exists: true } }],
        ["a key starting with $", { $or: [{ kind: "alpha" }] }],
        ["a key with a double quote", { 'ki"nd': "alpha" }],
        ["an empty key", { "": "alpha" }],
        ["a key longer than 512 characters", { ["k".repeat(513)]: "alpha" }],
        ["a nested object instead of a dotted key", { doc: { lang: "en" } }],
        ["$eq combined with $ne", { kind: { $eq: "a", $ne: "b" } }],
        ["two upper bounds", { rank: { $lt: 3, $lte: 2 } }],
        ["$in without an array", { kind: { $in: "alpha" } }],
        ["a range on a boolean", { flag: { $gt: false } }],
        ["an array value", { kind: ["alpha"] }],
        ["a filter of 2048 bytes or more", { kind: { $in: Array.from({ length: 300 }, (_, i) => `value-${i}`) } }],
      ];
      for (const [label, filter] of invalidFilters) {
        it(`rejects ${label}`, async () => {
          await expectVectorizeError(index.query(unit(0), { namespace, filter: filter as VectorizeVectorMetadataFilter }), {
            operation: "VECTOR_QUERY",
          });
        });
      }
    });

    describe("validation and limits", () => {
      it("rejects a query vector with the wrong number of dimensions (40006)", async () => {
        await expectVectorizeError(index.query(vec().slice(1)), {
          operation: "VECTOR_QUERY",
          code: 40006,
          message: new RegExp(`invalid query vector, expected ${dims} dimensions, and got ${dims - 1} dimensions`),
        });
        await expectVectorizeError(index.query([]), { operation: "VECTOR_QUERY", code: 40006 });
      });

      it("rejects inserted and upserted vectors with the wrong number of dimensions (40012)", async () => {
        const id = uniqueName("dims");
        const expected = new RegExp(`invalid vector for id="${id}", expected ${dims} dimensions, and got ${dims + 1} dimensions`);
        await expectVectorizeError(index.insert([{ id, values: [...vec(), 1] }]), {
          operation: "VECTOR_INSERT",
          code: 40012,
          message: expected,
        });
        await expectVectorizeError(index.upsert([{ id, values: [...vec(), 1] }]), {
          operation: "VECTOR_UPSERT",
          code: 40012,
          message: expected,
        });
      });

      it("accepts a 64-byte id and rejects a 65-byte one (40008), counting UTF-8 bytes", async () => {
        const ok = `${uniqueName("id")}-`.padEnd(64, "x");
        await index.upsert([{ id: ok, values: vec(1) }]);
        await waitForIds([ok]);
        await expectVectorizeError(index.upsert([{ id: `${ok}y`, values: vec(1) }]), {
          operation: "VECTOR_UPSERT",
          code: 40008,
          message: /id too long; max is 64 bytes, got 65 bytes/,
        });
        // 22 characters, 66 bytes.
        await expectVectorizeError(index.insert([{ id: "€".repeat(22), values: vec(1) }]), {
          operation: "VECTOR_INSERT",
          code: 40008,
          message: /got 66 bytes/,
        });
      });

      it("accepts metadata up to 10 KiB and rejects more", async () => {
        const id = uniqueName("big");
        const fits = { blob: "x".repeat(10 * 1024 - 20) }; // {"blob":"..."} is 10 bytes of JSON around it
        await index.upsert([{ id, values: vec(1), metadata: fits }]);
        await waitForIds([id]);
        await expectVectorizeError(
          index.upsert([{ id: uniqueName("big"), values: vec(1), metadata: { blob: "x".repeat(10 * 1024 + 1) } }]),
          { operation: "VECTOR_UPSERT" },
        );
      });

      it("rejects metadata keys that contain a dot or start with $", async () => {
        const invalid: Record<string, VectorizeVectorMetadata>[] = [{ "a.b": 1 }, { $a: 1 }, { nested: { "x.y": 1 } }];
        for (const metadata of invalid) {
          await expectVectorizeError(index.upsert([{ id: uniqueName("key"), values: vec(1), metadata }]), {
            operation: "VECTOR_UPSERT",
          });
        }
      });

      it("rejects a namespace longer than 64 bytes", async () => {
        const namespace = "n".repeat(65);
        await expectVectorizeError(index.upsert([{ id: uniqueName("ns"), values: vec(1), namespace }]), {
          operation: "VECTOR_UPSERT",
        });
        await expectVectorizeError(index.query(unit(0), { namespace }), { operation: "VECTOR_QUERY" });
      });

      it("accepts a batch of 1000 vectors and rejects 1001", async () => {
        const namespace = uniqueName("batch");
        const batch = Array.from({ length: 1000 }, (_, i) => ({ id: uniqueName(`b${i}`), namespace, values: unit(i / 10) }));
        await index.upsert(batch);
        await eventually(async () => {
          const result = await index.query(unit(0), { namespace, topK: 100 });
          expect(result.count).toBe(100);
        }, wait);
        const tooMany = Array.from({ length: 1001 }, (_, i) => ({ id: uniqueName(`c${i}`), values: unit(i) }));
        await expectVectorizeError(index.upsert(tooMany), { operation: "VECTOR_UPSERT" });
        await expectVectorizeError(index.insert(tooMany), { operation: "VECTOR_INSERT" });
      });

      it("caps getByIds at 20 ids and deleteByIds at 100 ids (40007, observed)", async () => {
        const ids = (n: number) => Array.from({ length: n }, () => uniqueName("many"));
        await expect(index.getByIds(ids(20))).resolves.toEqual([]);
        await expectVectorizeError(index.getByIds(ids(21)), {
          operation: "VECTOR_GET",
          code: 40007,
          message: /too many ids in payload; max id count is 20/,
        });
        await expect(index.deleteByIds(ids(100))).resolves.toHaveProperty("mutationId");
        await expectVectorizeError(index.deleteByIds(ids(101)), { operation: "VECTOR_DELETE", code: 40007 });
      });
    });
  });
}
