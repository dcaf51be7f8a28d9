import { type PiscinaTask, queueOptionsSymbol, type TaskQueue } from "piscina";
import type { EmbedKind } from "./port.ts";

/**
 * The worker pool's task queue with a lane per embedding kind (piscina's custom `taskQueue`).
 *
 * Promise: when a thread frees up, the oldest waiting query task runs before any passage task, so
 * a query waits at most for the tasks already running (one sub-batch a thread, tens of ms on USE
 * lite), never for the passage sub-batches a bulk ingest has queued. Within a lane: FIFO, provided
 * the pool has `stricterFIFO: true` (piscina otherwise re-queues a task it could not hand to a busy
 * thread at the back, reordering its lane). A task says its lane with `laneTask`; one without a
 * lane is treated as a passage (background).
 */
export function createLaneQueue(): TaskQueue {
  const lanes: Record<EmbedKind, PiscinaTask[]> = { query: [], passage: [] };
  const laneOf = (task: PiscinaTask): EmbedKind =>
    (task[queueOptionsSymbol] as LaneOptions | null)?.lane === "query" ? "query" : "passage";
  return {
    get size() {
      return lanes.query.length + lanes.passage.length;
    },
    push(task) {
      lanes[laneOf(task as PiscinaTask)].push(task as PiscinaTask);
    },
    /** Piscina puts back (with stricterFIFO) a task it took but could not hand to a thread: front of its lane. */
    unshift(task) {
      lanes[laneOf(task as PiscinaTask)].unshift(task as PiscinaTask);
    },
    shift() {
      return lanes.query.shift() ?? lanes.passage.shift() ?? null;
    },
    remove(task) {
      const lane = lanes[laneOf(task as PiscinaTask)];
      const index = lane.indexOf(task as PiscinaTask);
      if (index !== -1) lane.splice(index, 1);
    },
  };
}

type LaneOptions = { lane: EmbedKind };

/** A task object for `pool.run` that the lane queue files under `kind` (the symbol is not sent to the thread). */
export function laneTask<T extends object>(kind: EmbedKind, task: T): T & { [queueOptionsSymbol]: LaneOptions } {
  return { ...task, [queueOptionsSymbol]: { lane: kind } };
}

/**
 * Caps the passage sub-batches running at once at `slots`, so that a pool of `slots + 1` threads
 * always has one for a query: a query starts at once (sharing the CPU with the passages) instead of
 * waiting for a passage sub-batch to end. Queries are never held here (the lane queue orders them
 * among themselves); waiting passages go in arrival order.
 */
export function createPassageGate(slots: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return {
    async run<T>(kind: EmbedKind, task: () => Promise<T>): Promise<T> {
      if (kind === "query") return task();
      if (running < slots) running++;
      // A finishing passage hands its slot straight to the next one waiting.
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
    /** Passage sub-batches waiting for a slot (for tests). */
    get waiting() {
      return waiting.length;
    },
  };
}
