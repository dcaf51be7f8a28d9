import { describe, expect, it } from "vitest";
import { createMicroBatcher } from "../src/embeddings/micro-batcher.ts";
import type { EmbedKind } from "../src/embeddings/port.ts";

/** A backend that records its batches and answers [length, batchNumber] per text after `delayMs`. */
function recordingBackend(delayMs = 5) {
  const batches: { texts: string[]; kind: EmbedKind }[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = async (texts: string[], kind: EmbedKind) => {
    batches.push({ texts, kind });
    const batch = batches.length;
    maxRunning = Math.max(maxRunning, ++running);
    await new Promise((r) => setTimeout(r, delayMs));
    running--;
    if (texts.includes("poison")) throw new Error("backend failed");
    return texts.map((t) => Float32Array.of(t.length, batch));
  };
  return { batches, run, maxRunning: () => maxRunning };
}

describe("micro-batcher", () => {
  it("happy: coalesces concurrent calls into one batch and answers each caller in order", async () => {
    const backend = recordingBackend();
    const batcher = createMicroBatcher({ maxBatch: 64, maxWaitMs: 20, maxInFlight: 1, run: backend.run });
    const results = await Promise.all(["a", "bb", "ccc", "dddd"].map((t) => batcher.embed([t, t + t], "query")));
    expect(backend.batches).toHaveLength(1);
    expect(backend.batches[0]!.texts).toHaveLength(8);
    results.forEach((vectors, i) => {
      expect(vectors.map((v) => v[0])).toEqual([i + 1, 2 * (i + 1)]);
    });
  });

  it("happy: a batch never exceeds maxBatch; a big call spans batches", async () => {
    const backend = recordingBackend();
    const batcher = createMicroBatcher({ maxBatch: 16, maxWaitMs: 1, maxInFlight: 2, run: backend.run });
    const texts = Array.from({ length: 40 }, (_, i) => "x".repeat(i + 1));
    const vectors = await batcher.embed(texts, "passage");
    expect(vectors.map((v) => v[0])).toEqual(texts.map((t) => t.length));
    expect(backend.batches.map((b) => b.texts.length)).toEqual([16, 16, 8]);
    expect(backend.maxRunning()).toBeLessThanOrEqual(2);
  });

  it("happy: maxWait 0 sends at once; a lone call never waits for company", async () => {
    const backend = recordingBackend(1);
    const batcher = createMicroBatcher({ maxBatch: 64, maxWaitMs: 0, maxInFlight: 1, run: backend.run });
    await batcher.embed(["one"], "query");
    await batcher.embed(["two"], "query");
    expect(backend.batches.map((b) => b.texts)).toEqual([["one"], ["two"]]);
  });

  it("happy: an idle backend gets a lone call at once, whatever maxWait says", async () => {
    const backend = recordingBackend(1);
    const batcher = createMicroBatcher({ maxBatch: 64, maxWaitMs: 5_000, maxInFlight: 1, run: backend.run });
    const started = performance.now();
    await batcher.embed(["alone"], "query");
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("happy: while the backend is busy, inputs pile up into the next batch", async () => {
    const backend = recordingBackend(30);
    const batcher = createMicroBatcher({ maxBatch: 64, maxWaitMs: 0, maxInFlight: 1, run: backend.run });
    const first = batcher.embed(["first"], "query");
    await new Promise((r) => setTimeout(r, 5));
    const rest = Array.from({ length: 10 }, (_, i) => batcher.embed([`q${i}`], "query"));
    expect(batcher.queued).toBe(10);
    await Promise.all([first, ...rest]);
    expect(backend.batches.map((b) => b.texts.length)).toEqual([1, 10]);
  });

  it("happy: queries and passages never share a batch", async () => {
    const backend = recordingBackend();
    const batcher = createMicroBatcher({ maxBatch: 64, maxWaitMs: 10, maxInFlight: 2, run: backend.run });
    await Promise.all([batcher.embed(["q"], "query"), batcher.embed(["p"], "passage")]);
    expect(backend.batches.map((b) => [b.kind, b.texts])).toEqual(
      expect.arrayContaining([
        ["query", ["q"]],
        ["passage", ["p"]],
      ]),
    );
  });

  it("error: a failed batch fails its callers only, and the batcher keeps serving", async () => {
    const backend = recordingBackend();
    const batcher = createMicroBatcher({ maxBatch: 2, maxWaitMs: 5, maxInFlight: 1, run: backend.run });
    const bad = batcher.embed(["poison", "other"], "query");
    const good = batcher.embed(["fine"], "query");
    await expect(bad).rejects.toThrow("backend failed");
    await expect(good).resolves.toHaveLength(1);
    await expect(batcher.embed(["again"], "query")).resolves.toHaveLength(1);
    expect(batcher.inFlight).toBe(0);
  });

  it("happy: a query submitted behind queued passage batches is served before them, without waiting for the running one", async () => {
    const order: string[] = [];
    // Passage batches are slow (a bulk ingest's), queries quick: the shape that starves queries without a lane.
    const run = async (texts: string[], kind: EmbedKind) => {
      order.push(`start ${kind}`);
      await new Promise((r) => setTimeout(r, kind === "passage" ? 60 : 1));
      order.push(`end ${kind}`);
      return texts.map((t) => Float32Array.of(t.length));
    };
    const batcher = createMicroBatcher({ maxBatch: 8, maxWaitMs: 0, maxInFlight: 1, run });
    const passages = batcher.embed(
      Array.from({ length: 8 * 4 }, (_, i) => `passage ${i}`),
      "passage",
    );
    await new Promise((r) => setTimeout(r, 5));
    expect(batcher.queued).toBe(8 * 3); // one passage batch running, three queued
    const query = await batcher.embed(["the query"], "query");
    expect(query[0]![0]).toBe("the query".length);
    // The query ran and finished while the first passage batch was still running.
    expect(order.slice(0, 3)).toEqual(["start passage", "start query", "end query"]);
    await passages;
    expect(order.filter((e) => e === "start passage")).toHaveLength(4);
  });

  it("happy: each lane keeps its own maxInFlight", async () => {
    const backend = recordingBackend(20);
    const batcher = createMicroBatcher({ maxBatch: 1, maxWaitMs: 0, maxInFlight: 1, run: backend.run });
    await Promise.all([batcher.embed(["p1", "p2", "p3"], "passage"), batcher.embed(["q1", "q2", "q3"], "query")]);
    // One query and one passage batch at a time: never more than two calls running together.
    expect(backend.maxRunning()).toBe(2);
    expect(backend.batches).toHaveLength(6);
  });
});
