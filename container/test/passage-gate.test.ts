import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createPassageGate } from "../src/embeddings/passage-gate.ts";

/** Work that records when it ran (fake clock) and finishes when the test says so. */
function task(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((r) => {
    finish = r;
  });
  return {
    run: async () => {
      log.push(`${name} start @${performance.now()}`);
      await done;
      log.push(`${name} end @${performance.now()}`);
      return name;
    },
    finish: () => finish(),
  };
}

describe("passage gate", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("happy: with no queries, passage groups run side by side and never rest", async () => {
    const gate = createPassageGate({ quietMs: 100, whileQueries: 1 });
    const log: string[] = [];
    const a = task(log, "a");
    const b = task(log, "b");
    const runs = [gate.passage(a.run), gate.passage(b.run)];
    await vi.advanceTimersByTimeAsync(0);
    expect(gate.passages).toEqual({ running: 2, waiting: 0 });
    await vi.advanceTimersByTimeAsync(30);
    a.finish();
    b.finish();
    await expect(Promise.all(runs)).resolves.toEqual(["a", "b"]);
    expect(log).toEqual(["a start @0", "b start @0", "a end @30", "b end @30"]);
  });

  it("happy: a query never waits, even while every passage thread is busy", async () => {
    const gate = createPassageGate({ quietMs: 100, whileQueries: 1 });
    const log: string[] = [];
    const passages = [task(log, "p1"), task(log, "p2")];
    const running = passages.map((p) => gate.passage(p.run));
    await vi.advanceTimersByTimeAsync(5);
    const q = task(log, "q");
    const query = gate.query(q.run);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toContain("q start @5");
    q.finish();
    await expect(query).resolves.toBe("q");
    for (const p of passages) p.finish();
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(running);
  });

  it("happy: while a query runs, only `whileQueries` passage groups run at once; the next starts as one ends", async () => {
    const gate = createPassageGate({ quietMs: 100, whileQueries: 2 });
    const log: string[] = [];
    const q = task(log, "q");
    const query = gate.query(q.run);
    const groups = [task(log, "p1"), task(log, "p2"), task(log, "p3")];
    const runs = groups.map((p) => gate.passage(p.run));
    await vi.advanceTimersByTimeAsync(0);
    expect(gate.passages).toEqual({ running: 2, waiting: 1 });
    await vi.advanceTimersByTimeAsync(40);
    groups[0]!.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(["q start @0", "p1 start @0", "p2 start @0", "p1 end @40", "p3 start @40"]);
    q.finish();
    await query;
    for (const p of groups) p.finish();
    await expect(Promise.all(runs)).resolves.toEqual(["p1", "p2", "p3"]);
  });

  it("happy: once no query has been embedded for quietMs, held-back groups run side by side again", async () => {
    const gate = createPassageGate({ quietMs: 100, whileQueries: 1 });
    const log: string[] = [];
    await gate.query(async () => "q");
    const groups = [task(log, "p1"), task(log, "p2"), task(log, "p3")];
    const runs = groups.map((p) => gate.passage(p.run));
    await vi.advanceTimersByTimeAsync(0);
    expect(gate.passages).toEqual({ running: 1, waiting: 2 });
    await vi.advanceTimersByTimeAsync(100);
    expect(gate.passages).toEqual({ running: 3, waiting: 0 });
    expect(log).toEqual(["p1 start @0", "p2 start @100", "p3 start @100"]);
    for (const p of groups) p.finish();
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(runs);
    expect(gate.passages).toEqual({ running: 0, waiting: 0 });
  });

  it("happy: reports each group's wait for its turn: 0 when not held back", async () => {
    const waits: number[] = [];
    const gate = createPassageGate({ quietMs: 100, whileQueries: 1, onWait: (seconds) => waits.push(seconds) });
    await gate.passage(async () => "alone");
    const q = gate.query(() => new Promise((r) => setTimeout(r, 500)));
    const first = gate.passage(() => new Promise((r) => setTimeout(r, 30)));
    const second = gate.passage(async () => "second");
    await vi.advanceTimersByTimeAsync(30);
    await Promise.all([first, second]);
    expect(waits).toEqual([0, 0, 0.03]);
    await vi.advanceTimersByTimeAsync(500);
    await q;
  });

  it("sad: a failed passage group releases its turn and fails only its caller", async () => {
    const gate = createPassageGate({ quietMs: 100, whileQueries: 1 });
    const q = gate.query(() => new Promise((r) => setTimeout(r, 500)));
    const failed = gate.passage(async () => {
      await new Promise((r) => setTimeout(r, 10));
      throw new Error("model failed");
    });
    const next = gate.passage(async () => "next");
    await vi.advanceTimersByTimeAsync(0);
    expect(gate.passages).toEqual({ running: 1, waiting: 1 });
    const outcome = expect(failed).rejects.toThrow("model failed");
    await vi.advanceTimersByTimeAsync(10);
    await outcome;
    await expect(next).resolves.toBe("next");
    expect(gate.passages).toEqual({ running: 0, waiting: 0 });
    await vi.advanceTimersByTimeAsync(500);
    await q;
  });
});
