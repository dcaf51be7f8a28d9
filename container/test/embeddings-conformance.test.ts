import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenAIEmbeddings } from "../src/embeddings/openai-backend.ts";
import type { EmbeddingBackend, EmbedKind } from "../src/embeddings/port.ts";
import { createUseBackend, laneThreads, PASSAGE_NICE, planGroups } from "../src/embeddings/use-backend.ts";
import { AppError } from "../src/errors.ts";
import { FAKE_DIMENSIONS, type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.ts";

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** The port's promises, checked against every adapter. */
function embeddingConformance(name: string, create: () => Promise<EmbeddingBackend>, dimensions: number) {
  describe(`EmbeddingBackend conformance: ${name}`, () => {
    let backend: EmbeddingBackend;
    beforeAll(async () => {
      backend = await create();
    });
    afterAll(() => backend?.close());

    it("happy: one unit-length vector per input, in input order", async () => {
      const texts = ["first input", "a second, somewhat longer input text", "3", "first input"];
      const vectors = await backend.embed(texts, "passage");
      expect(vectors).toHaveLength(texts.length);
      for (const v of vectors) {
        expect(v).toHaveLength(dimensions);
        expect(dot(v, v)).toBeCloseTo(1, 4);
      }
      // Same text, same vector; and order is kept (the duplicate sits at index 3).
      expect(dot(vectors[0]!, vectors[3]!)).toBeCloseTo(1, 5);
      const single = await backend.embed(["a second, somewhat longer input text"], "query");
      expect(dot(single[0]!, vectors[1]!)).toBeCloseTo(1, 4);
      expect(backend.dimensions).toBe(dimensions);
    });

    it("happy: a batch of 64 mixed-length inputs comes back complete and aligned", async () => {
      const texts = Array.from({ length: 64 }, (_, i) => `input ${i} ${"word ".repeat((i * 7) % 50)}`);
      const batch = await backend.embed(texts, "passage");
      const again = await backend.embed([texts[37]!], "passage");
      expect(batch).toHaveLength(64);
      expect(dot(batch[37]!, again[0]!)).toBeCloseTo(1, 4);
    });

    it("happy: check() reports ready", async () => {
      expect((await backend.check()).ok).toBe(true);
    });
  });
}

embeddingConformance("use (USE lite, real model)", () => createUseBackend({ workers: 2 }), 512);

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(() => fake?.close());

embeddingConformance(
  "openai (OpenAI-compatible server)",
  async () => createOpenAIEmbeddings({ url: fake.url, model: "bge-base", apiKey: "test-key", timeoutMs: 500 }),
  FAKE_DIMENSIONS,
);

describe("use backend specifics", () => {
  it("happy: the real model puts paraphrases closer than unrelated sentences", async () => {
    const backend = await createUseBackend({ workers: 1 });
    try {
      const [cat, feline, stocks] = await backend.embed(
        ["The cat sat on the mat.", "A feline was resting on the rug.", "Stock markets fell sharply today."],
        "query",
      );
      expect(dot(cat!, feline!)).toBeGreaterThan(dot(cat!, stocks!) + 0.2);
    } finally {
      await backend.close();
    }
  });

  // The lane: on Linux a thread's nice value is its own (/proc/self/task/<tid>/stat, field 19).
  it.runIf(process.platform === "linux")(
    "happy: passages compute on threads of their own at a lower CPU priority; queries on threads at normal priority",
    async () => {
      const threads = () =>
        readdirSync("/proc/self/task").map((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
          const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          return { tid, nice: Number(fields[16]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
        });
      const busiest = async (kind: EmbedKind) => {
        const before = new Map(threads().map((t) => [t.tid, t.cpuTicks]));
        const texts = Array.from({ length: 32 }, (_, i) => `Sentence ${i} on how cells fold the proteins they make. `.repeat(6));
        await backend.embed(texts, kind);
        // The two threads that computed the most during the calls.
        return threads()
          .map((t) => ({ ...t, used: t.cpuTicks - (before.get(t.tid) ?? 0) }))
          .sort((a, b) => b.used - a.used)
          .slice(0, 2);
      };
      const backend = await createUseBackend({ workers: 2 });
      try {
        const passageThreads = await busiest("passage");
        const queryThreads = await busiest("query");
        expect(passageThreads.map((t) => t.nice)).toEqual([PASSAGE_NICE, PASSAGE_NICE]);
        expect(queryThreads.map((t) => t.nice)).toEqual([0, 0]);
        // At least the passage pool: threads a niced thread starts later (V8's and the WASM
        // runtime's helpers) inherit its nice value, and when they start varies (CI saw 6).
        expect(threads().filter((t) => t.nice === PASSAGE_NICE).length).toBeGreaterThanOrEqual(2);
      } finally {
        await backend.close();
      }
    },
  );

  it("happy: passages get every worker thread, queries at most two (no model copy per core for the query lane)", () => {
    expect(laneThreads(1)).toEqual({ query: 1, passage: 1 });
    expect(laneThreads(2)).toEqual({ query: 2, passage: 2 });
    expect(laneThreads(8)).toEqual({ query: 2, passage: 8 });
    // EMBED_QUERY_WORKERS: fewer model copies for less memory, or more for a bigger query load.
    expect(laneThreads(2, 1)).toEqual({ query: 1, passage: 2 });
    expect(laneThreads(8, 4)).toEqual({ query: 4, passage: 8 });
  });

  it("happy: groups rows of similar length, at least one group per worker", () => {
    const lengths = [500, 10, 12, 480, 11, 9];
    const groups = planGroups(lengths, 2);
    expect(groups.flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(groups.length).toBeGreaterThanOrEqual(2);
    for (const g of groups) {
      const ls = g.map((i) => lengths[i]!);
      expect(Math.max(...ls) / Math.min(...ls)).toBeLessThan(3); // long and short rows never padded together
    }
  });
});

describe("openai embeddings backend: wire format and failures", () => {
  const backend = () => createOpenAIEmbeddings({ url: fake.url, model: "bge-base", apiKey: "test-key", timeoutMs: 300 });

  it("happy: speaks the OpenAI wire format with the API key as a bearer token", async () => {
    fake.setMode("ok");
    await backend().embed(["hello"], "query");
    const request = fake.requests.at(-1)!;
    expect(request).toMatchObject({ method: "POST", path: "/v1/embeddings" });
    expect(request.body).toEqual({ model: "bge-base", input: ["hello"], encoding_format: "float" });
    expect(request.headers.authorization).toBe("Bearer test-key");
  });

  const failures = [
    ["http-500", "UPSTREAM_ERROR", 502],
    ["http-429", "UPSTREAM_UNAVAILABLE", 503],
    ["http-503", "UPSTREAM_UNAVAILABLE", 503],
    ["malformed", "UPSTREAM_ERROR", 502],
    ["hang", "UPSTREAM_TIMEOUT", 504],
  ] as const;
  for (const [mode, code, status] of failures) {
    it(`error: ${mode} → ${code} (${status}), without the upstream body`, async () => {
      fake.setMode(mode);
      const err = await backend()
        .embed(["x"], "query")
        .catch((e: unknown) => e);
      fake.setMode("ok");
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code, status });
      expect((err as Error).message).not.toContain("secret-upstream-detail");
    });
  }

  it("error: an unreachable server → UPSTREAM_UNAVAILABLE, and check() says not ready", async () => {
    const dead = createOpenAIEmbeddings({ url: "http://127.0.0.1:1/v1", model: "m", timeoutMs: 500 });
    await expect(dead.embed(["x"], "query")).rejects.toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 503 });
    expect((await dead.check()).ok).toBe(false);
  });

  it("error: vectors of the wrong size are rejected", async () => {
    fake.setMode("ok");
    const strict = createOpenAIEmbeddings({ url: fake.url, model: "m", dimensions: 768, timeoutMs: 500 });
    await expect(strict.embed(["x"], "query")).rejects.toMatchObject({ code: "UPSTREAM_ERROR" });
  });
});
