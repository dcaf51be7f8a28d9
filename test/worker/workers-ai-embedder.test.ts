import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { ConfigError, loadConfig } from "../../src/config";
import {
  createOriginEmbedder,
  EmbeddingBackendUnavailable,
  type EmbeddingOutcome,
  type QueryEmbedder,
  withEmbeddingFallback,
} from "../../src/embedding/query-embedder";
import { createWorkersAiEmbedder, createWorkersAiFallback, type TextEmbeddingsBinding } from "../../src/embedding/workers-ai-embedder";
import { OriginFailure } from "../../src/errors";
import { localVectorIndex } from "../../src/local";
import { createOrigins } from "../../src/origin/origin-client";
import { productionPlatform } from "../../src/production-platform";
import { createServices, type ServicesFactory, servicesFactory } from "../../src/services";
import { bindingsWith, callWithEnv, createKey, DEAD_ORIGIN, json, uniqueTenant } from "./helpers";
import { indexFixture, QUESTIONS } from "./query-fixtures";

/** Whose queries: every origin call names its tenant. */
const SCOPE = { tenant: "embedder-test", cache: false, defer: () => {} };

/**
 * The Workers AI query-embedding fallback (production and staging): when no origin can embed a
 * query, Workers AI does, with the origin's model family, and dense retrieval survives.
 *
 * Workers AI has no local form, so the adapter is tested against a stand-in for the AI binding
 * that follows Cloudflare's documented contract for its text-embedding models
 * (@cf/baai/bge-base-en-v1.5): `run(model, { text: string | string[], pooling?: "mean" | "cls" })`
 * answers `{ shape: [n, 768], data: number[][], pooling? }`, or throws (an `AiError` such as
 * "3040: Capacity temporarily exceeded").
 */

const BGE_BASE = "@cf/baai/bge-base-en-v1.5";

interface RunCall {
  model: string;
  inputs: { text: string[]; pooling: "cls" };
}

/** A stand-in AI binding: records each run() and answers with `answer`. */
function standInAi(answer: (inputs: RunCall["inputs"], signal: AbortSignal) => unknown) {
  const calls: RunCall[] = [];
  const ai: TextEmbeddingsBinding = {
    async run(model, inputs, options) {
      calls.push({ model, inputs: structuredClone(inputs) });
      return answer(inputs, options.signal);
    },
  };
  return { ai, calls };
}

/** A distinct, recognisable `width`-dimensional vector per text (not normalised, as Workers AI's need not be). */
const vectorFor = (text: string, width = 768) => Array.from({ length: width }, (_, index) => ((text.length + index) % 7) + 1);
const documented =
  (width = 768) =>
  (inputs: RunCall["inputs"]) => ({
    shape: [inputs.text.length, width],
    data: inputs.text.map((text) => vectorFor(text, width)),
    pooling: "cls",
  });

const norm = (vector: number[]) => Math.hypot(...vector);
const unavailable = (outcomes: EmbeddingOutcome[]) =>
  outcomes.every((outcome) => !outcome.ok && outcome.error instanceof EmbeddingBackendUnavailable);

describe("the Workers AI embedder (happy)", () => {
  it("embeds every query in one call with CLS pooling (TEI's for bge), normalised, in order", async () => {
    const { ai, calls } = standInAi(documented());
    const embedder = createWorkersAiEmbedder(ai, BGE_BASE, { dimensions: 768 });
    const queries = ["how do bees dance", "penicillin"];
    const outcomes = await embedder.embed(queries);
    expect(calls).toEqual([{ model: BGE_BASE, inputs: { text: queries, pooling: "cls" } }]);
    expect(embedder).toMatchObject({ backend: "workers-ai", model: BGE_BASE, dimensions: 768 });
    for (const [index, outcome] of outcomes.entries()) {
      expect(outcome).toMatchObject({ ok: true, backend: "workers-ai", fallback: false });
      if (!outcome.ok) continue;
      expect(outcome.vector).toHaveLength(768);
      expect(norm(outcome.vector)).toBeCloseTo(1, 6);
      // Same direction as the answer for that text: the order is kept.
      const raw = vectorFor(queries[index]!);
      expect(outcome.vector[0]! / outcome.vector[1]!).toBeCloseTo(raw[0]! / raw[1]!, 9);
    }
  });

  it("sends at most 100 texts per call, as Workers AI allows", async () => {
    const { ai, calls } = standInAi(documented());
    const queries = Array.from({ length: 150 }, (_, index) => `query ${index}`);
    const outcomes = await createWorkersAiEmbedder(ai, BGE_BASE, { dimensions: 768 }).embed(queries);
    expect(calls.map((call) => call.inputs.text.length)).toEqual([100, 50]);
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    expect(await createWorkersAiEmbedder(ai, BGE_BASE, { dimensions: 768 }).embed([])).toEqual([]);
    expect(calls).toHaveLength(2);
  });
});

describe("the Workers AI embedder (error): a failure is an outcome, never thrown", () => {
  const embed = (answer: Parameters<typeof standInAi>[0], timeoutMs?: number) =>
    createWorkersAiEmbedder(standInAi(answer).ai, BGE_BASE, { dimensions: 768, timeoutMs }).embed(["one", "two"]);

  it("an error of the binding", async () => {
    const outcomes = await embed(() => {
      throw new Error("AiError: 3040: Capacity temporarily exceeded, please try again.");
    });
    expect(unavailable(outcomes)).toBe(true);
    expect(outcomes).toHaveLength(2);
  });

  it.each([
    ["vectors of another width (384)", (inputs: RunCall["inputs"]) => documented(384)(inputs)],
    ["a shape that contradicts the data", (inputs: RunCall["inputs"]) => ({ ...documented()(inputs), shape: [inputs.text.length, 1024] })],
    ["one vector short", (inputs: RunCall["inputs"]) => ({ shape: [1, 768], data: [vectorFor(inputs.text[0]!)] })],
    ["rows of mixed width", () => ({ data: [vectorFor("a"), vectorFor("b", 767)] })],
    ["a zero vector", (inputs: RunCall["inputs"]) => ({ shape: [2, 768], data: inputs.text.map(() => Array(768).fill(0)) })],
    ["a non-number", (inputs: RunCall["inputs"]) => ({ shape: [2, 768], data: inputs.text.map(() => [...vectorFor("x", 767), "1"]) })],
    ["an async-queue ticket instead of vectors", () => ({ request_id: "b7c2…" })],
    ["nothing", () => undefined],
  ])("%s", async (_, answer) => {
    expect(unavailable(await embed(answer))).toBe(true);
  });

  it("no answer within its timeout (and the call is aborted)", async () => {
    let aborted: AbortSignal | undefined;
    const started = Date.now();
    const outcomes = await embed((_, signal) => {
      aborted = signal;
      return new Promise(() => {});
    }, 100);
    expect(unavailable(outcomes)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(aborted?.aborted).toBe(true);
  });
});

// ── The fallback combinator over the real origin client ──────────────────────────────────────

describe("the query-embedding fallback (happy)", () => {
  it("embeds with Workers AI the queries no origin could, marked as a fallback", async () => {
    const { ai, calls } = standInAi(documented());
    const origin = createOrigins(loadConfig({ ...env, ORIGIN_URLS: DEAD_ORIGIN, EMBEDDING_DIMENSIONS: "768" }));
    const embedder = withEmbeddingFallback(createOriginEmbedder(origin), createWorkersAiEmbedder(ai, BGE_BASE, { dimensions: 768 }), 768);
    const outcomes = await embedder.embed(["a", "b"], SCOPE);
    expect(calls).toHaveLength(1);
    expect(outcomes).toEqual([
      { ok: true, vector: expect.any(Array), ms: expect.any(Number), backend: "workers-ai", fallback: true },
      { ok: true, vector: expect.any(Array), ms: expect.any(Number), backend: "workers-ai", fallback: true },
    ]);
  });

  it("never calls Workers AI while the origin embeds", async () => {
    const { ai, calls } = standInAi(documented(512));
    const embedder = withEmbeddingFallback(
      createOriginEmbedder(createOrigins(loadConfig(env))),
      createWorkersAiEmbedder(ai, "@cf/test/model", { dimensions: 512 }),
      512,
    );
    const outcomes = await embedder.embed([QUESTIONS.bees.query], SCOPE);
    expect(outcomes[0]).toMatchObject({ ok: true, backend: "origin", fallback: false });
    expect(calls).toEqual([]);
  });

  it("sends only the queries the primary could not embed, in one call, and keeps the order", async () => {
    const failure = new (class extends OriginFailure {
      static override readonly code = "ORIGIN_UNAVAILABLE";
    })("down");
    const primary: QueryEmbedder = {
      embed: async (queries) =>
        queries.map((_query, index) =>
          index % 2 === 0 ? { ok: true, vector: [index], ms: 1, backend: "origin", fallback: false } : { ok: false, error: failure, ms: 1 },
        ),
    };
    const { ai, calls } = standInAi(documented(4));
    const outcomes = await withEmbeddingFallback(primary, createWorkersAiEmbedder(ai, "@cf/test/model", { dimensions: 4 }), 4).embed([
      "q0",
      "q1",
      "q2",
      "q3",
    ]);
    expect(calls.map((call) => call.inputs.text)).toEqual([["q1", "q3"]]);
    expect(outcomes.map((outcome) => (outcome.ok ? outcome.backend : "none"))).toEqual(["origin", "workers-ai", "origin", "workers-ai"]);
  });
});

describe("the query-embedding fallback (error)", () => {
  it("reports the origin's failure when Workers AI fails too", async () => {
    const { ai } = standInAi(() => {
      throw new Error("AiError: 5007: No such model");
    });
    const origin = createOrigins(loadConfig({ ...env, ORIGIN_URLS: DEAD_ORIGIN }));
    const [outcome] = await withEmbeddingFallback(
      createOriginEmbedder(origin),
      createWorkersAiEmbedder(ai, "@cf/test/model", { dimensions: 512 }),
      512,
    ).embed(["a"], SCOPE);
    expect(outcome!.ok).toBe(false);
    expect(!outcome!.ok && outcome!.error).toBeInstanceOf(OriginFailure);
  });

  it("refuses a fallback whose vectors are not as wide as the index's", () => {
    const { ai } = standInAi(documented());
    expect(() =>
      withEmbeddingFallback(
        createOriginEmbedder(createOrigins(loadConfig(env))),
        createWorkersAiEmbedder(ai, BGE_BASE, { dimensions: 768 }),
        512,
      ),
    ).toThrow(ConfigError);
  });
});

// ── The production wiring ─────────────────────────────────────────────────────────────────────

describe("the production entry's Workers AI fallback", () => {
  const { ai } = standInAi(documented());
  const production = (overrides: Record<string, unknown>) => {
    const bindings = bindingsWith(overrides);
    const config = loadConfig(bindings);
    return productionPlatform({ ...bindings, VECTORIZE: localVectorIndex(bindings, config) }, config);
  };

  it("is bge-base-en-v1.5 by default where the index is 768-wide, as TEI's in production (happy)", () => {
    expect(production({ AI: ai, EMBEDDING_DIMENSIONS: "768" }).queryEmbeddingFallback).toMatchObject({
      backend: "workers-ai",
      model: BGE_BASE,
      dimensions: 768,
    });
    expect(
      production({ AI: ai, EMBEDDING_DIMENSIONS: "384", WORKERS_AI_EMBEDDING_MODEL: "@cf/baai/bge-small-en-v1.5" }).queryEmbeddingFallback
        ?.dimensions,
    ).toBe(384);
  });

  it("is off without an AI binding or with WORKERS_AI_EMBEDDING_MODEL=none", () => {
    expect(production({ EMBEDDING_DIMENSIONS: "768" }).queryEmbeddingFallback).toBeUndefined();
    expect(production({ AI: ai, WORKERS_AI_EMBEDDING_MODEL: "none" }).queryEmbeddingFallback).toBeUndefined();
  });

  it("is a configuration error when the model's width is not EMBEDDING_DIMENSIONS (error)", async () => {
    expect(() => production({ AI: ai, EMBEDDING_DIMENSIONS: "512" })).toThrow(ConfigError);
    expect(() =>
      createWorkersAiFallback(ai, { WORKERS_AI_EMBEDDING_MODEL: BGE_BASE, WORKERS_AI_EMBED_TIMEOUT_MS: 2_000, EMBEDDING_DIMENSIONS: 1024 }),
    ).toThrow(/WORKERS_AI_EMBEDDING_MODEL/);
    expect(() => loadConfig({ ...env, WORKERS_AI_EMBEDDING_MODEL: "@cf/baai/bge-m3" })).toThrow(ConfigError);
    // Through the API: every request says the service is misconfigured, none uses the wrong vectors.
    const ctx = createExecutionContext();
    const bindings = bindingsWith({ AI: ai });
    const response = await createApp(
      servicesFactory((vectorBindings, config) =>
        productionPlatform({ ...vectorBindings, VECTORIZE: localVectorIndex(vectorBindings, config) }, config),
      ),
    ).fetch(
      new Request("http://edge-rag.test/v1/search", {
        method: "POST",
        headers: { "x-api-key": "erk_x_y", "content-type": "application/json" },
        body: "{}",
      }),
      bindings,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(500);
    expect((await json(response)).code).toBe("CONFIG_INVALID");
  });
});

// ── Through the public API: dense retrieval survives an origin outage ─────────────────────────

describe("search and query with every origin down and the Workers AI fallback (happy, degraded)", () => {
  const tenant = uniqueTenant("wai");
  let key = "";

  beforeAll(async () => {
    ({ key } = await createKey(tenant, ["reader"]));
    await indexFixture(tenant);
  }, 60_000);

  /**
   * The stand-in serves, in Workers AI's documented format, the model the local index was built
   * with (the origin's USE, 512-d; production pairs TEI's bge-base with Workers AI's): its vectors
   * come from the suite's real origin, which the worker under test cannot reach (ORIGIN_URLS is dead).
   */
  const useOnWorkersAi = standInAi(async (inputs) => {
    const { vectors } = await createOrigins(loadConfig(env)).forTenant(tenant).embed(inputs.text, "query");
    return { shape: [vectors.length, 512], data: vectors };
  });
  const withFallback: ServicesFactory = (bindings) => {
    const config = loadConfig(bindings);
    return createServices(bindings, config, {
      vectors: localVectorIndex(bindings, config),
      queryEmbeddingFallback: createWorkersAiEmbedder(useOnWorkersAi.ai, "@cf/test/use-lite", { dimensions: 512 }),
    });
  };

  async function callDeadOrigin(path: string, body: unknown) {
    const ctx = createExecutionContext();
    const request = new Request(`http://edge-rag.test${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const response = await createApp(withFallback).fetch(request, bindingsWith({ ORIGIN_URLS: DEAD_ORIGIN }), ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(200);
    return json(response);
  }

  it("finds by meaning what keyword search cannot, and says the embedding came from the fallback", async () => {
    const { query, document } = QUESTIONS.semantic;
    const result = await callDeadOrigin("/v1/search", { query, mode: "vector", top_k: 1 });
    expect(result.results[0].document_id).toBe(document);
    expect(result.metadata).toMatchObject({ degraded: true, degraded_reasons: ["embedding_fallback"] });
    expect(useOnWorkersAi.calls.at(-1)?.inputs).toEqual({ text: [query], pooling: "cls" });

    // Without the fallback the same search is keyword-only and finds nothing of the kind.
    const keywordOnly = await json(
      await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/search", { auth: key, body: { query, mode: "vector", top_k: 1 } }),
    );
    expect(keywordOnly.metadata.degraded_reasons).toEqual(["embedding_unavailable"]);
    expect(keywordOnly.results.map((r: { document_id: string }) => r.document_id)).not.toContain(document);
  });

  it("answers a query with hybrid retrieval and the edge's answer", async () => {
    const result = await callDeadOrigin("/v1/query", { query: QUESTIONS.semantic.query, top_k: 3, cache: false });
    expect(result.sources[0].document_id).toBe(QUESTIONS.semantic.document);
    expect(result.metadata).toMatchObject({ degraded: true, degraded_reasons: ["embedding_fallback", "generation_unavailable"] });
  });

  it("embeds a batch's queries in one Workers AI call", async () => {
    const before = useOnWorkersAi.calls.length;
    const queries = [QUESTIONS.semantic.query, QUESTIONS.penicillin.query];
    const { results } = await callDeadOrigin("/v1/query/batch", { queries: queries.map((query) => ({ query, top_k: 1, cache: false })) });
    expect(useOnWorkersAi.calls.slice(before).map((call) => call.inputs.text)).toEqual([queries]);
    expect(results.map((result: { sources: Array<{ document_id: string }> }) => result.sources[0]?.document_id)).toEqual([
      QUESTIONS.semantic.document,
      QUESTIONS.penicillin.document,
    ]);
    for (const result of results) expect(result.metadata.degraded_reasons).toContain("embedding_fallback");
  });
});
