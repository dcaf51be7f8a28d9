import { Piscina } from "piscina";
import { afterEach, describe, expect, it } from "vitest";
import { createLaneQueue, createPassageGate, laneTask } from "../src/embeddings/lane-queue.ts";
import type { EmbedKind } from "../src/embeddings/port.ts";

// A real one-thread piscina pool whose tasks sleep, so the queue's order is what decides who runs next.
const SLEEP_WORKER = new URL("./helpers/sleep-worker.mjs", import.meta.url).href;

describe("lane queue (the USE pool's task queue)", () => {
  let pool: Piscina | undefined;
  afterEach(async () => {
    await pool?.close({ force: true });
    pool = undefined;
  });

  async function completionOrder(taskQueue: Piscina["options"]["taskQueue"] | undefined): Promise<string[]> {
    pool = new Piscina({
      filename: SLEEP_WORKER,
      minThreads: 1,
      maxThreads: 1,
      stricterFIFO: true, // as the USE pool: otherwise piscina reorders tasks it re-queues
      ...(taskQueue ? { taskQueue } : {}),
    });
    await pool.run({ label: "warm", ms: 0 });
    const done: string[] = [];
    const submit = (kind: EmbedKind, label: string, ms: number) =>
      pool!.run(laneTask(kind, { label, ms })).then((result: string) => {
        done.push(result);
      });
    // A bulk ingest's sub-batches fill the pool's queue, then a query arrives behind them.
    const passages = Array.from({ length: 5 }, (_, i) => submit("passage", `passage ${i}`, 40));
    const query = submit("query", "query", 1);
    await Promise.all([...passages, query]);
    return done;
  }

  it("happy: a query queued behind N passage tasks runs as soon as the running one ends", async () => {
    const done = await completionOrder(createLaneQueue());
    expect(done).toEqual(["passage 0", "query", "passage 1", "passage 2", "passage 3", "passage 4"]);
  });

  it("happy: the lane is what makes the difference (piscina's default queue serves the query last)", async () => {
    const done = await completionOrder(undefined);
    expect(done.at(-1)).toBe("query");
  });

  it("happy: FIFO within a lane; size, shift and remove follow the lanes", () => {
    const queue = createLaneQueue();
    const task = (kind: EmbedKind, id: number) => laneTask(kind, { id }) as never;
    const [p1, q1, p2, q2, p0] = [task("passage", 1), task("query", 2), task("passage", 3), task("query", 4), task("passage", 0)];
    for (const t of [p1, q1, p2, q2]) queue.push(t);
    queue.unshift!(p0);
    expect(queue.size).toBe(5);
    queue.remove(q1);
    expect(queue.size).toBe(4);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([q2, p0, p1, p2, null]);
  });
});

describe("passage gate (the USE pool's spare thread for queries)", () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("happy: passages never hold more than their slots; a query starts at once while they are all taken", async () => {
    const gate = createPassageGate(2);
    const events: string[] = [];
    let running = 0;
    let most = 0;
    const passage = (i: number) =>
      gate.run("passage", async () => {
        most = Math.max(most, ++running);
        await sleep(30);
        running--;
        events.push(`passage ${i}`);
      });
    const passages = Array.from({ length: 6 }, (_, i) => passage(i));
    await sleep(5);
    expect(gate.waiting).toBe(4);
    await gate.run("query", async () => {
      events.push("query");
    });
    // The query ran before the first passage ended: it did not queue behind them.
    expect(events).toEqual(["query"]);
    await Promise.all(passages);
    expect(most).toBe(2);
    expect(events.slice(1)).toEqual(Array.from({ length: 6 }, (_, i) => `passage ${i}`));
  });

  it("error: a failed passage frees its slot for the next one", async () => {
    const gate = createPassageGate(1);
    const failing = gate.run("passage", async () => {
      await sleep(5);
      throw new Error("model failed");
    });
    const next = gate.run("passage", async () => "next");
    await expect(failing).rejects.toThrow("model failed");
    await expect(next).resolves.toBe("next");
    expect(gate.waiting).toBe(0);
  });
});
