import { AppError, clientClosed } from "../errors.ts";
import type { EmbedKind } from "./port.ts";

export type MicroBatcherOptions = {
  /** Most inputs sent to the backend in one call. */
  maxBatch: number;
  /** Longest an input waits for company before its batch goes anyway. 0 = go at once. */
  maxWaitMs: number;
  /** Backend calls running at once per kind (lane): queries and passages each have this many. */
  maxInFlight: number;
  /** Most inputs waiting per lane; a call that would push a non-empty lane past it is refused (OVERLOADED). Unset: no bound. */
  maxQueue?: number;
  /** `signal` aborts once no caller of the batch still wants its answer. */
  run: (texts: string[], kind: EmbedKind, signal: AbortSignal) => Promise<Float32Array[]>;
  /** Observes every dispatched batch: its size and how long each of its inputs queued (seconds). */
  onDispatch?: (size: number, waits: number[]) => void;
  /** Observes every call refused because its lane was full. */
  onShed?: (kind: EmbedKind) => void;
};

/** One embed() call: settled once, by its last vector, its first failure or its client's abort. */
type Caller = {
  settled: boolean;
  /** Batches running with some of this caller's inputs (to abort them once nobody waits for them). */
  running: Set<Batch>;
  deliver: (index: number, vector: Float32Array) => void;
  fail: (err: unknown) => void;
};

type Pending = { caller: Caller; index: number; text: string; enqueuedAt: number };

type Batch = { items: Pending[]; controller: AbortController };

/** How long a refused caller should wait before it tries again (the queue drains in about that). */
const RETRY_AFTER_SECONDS = 1;

/**
 * Dynamic micro-batching: concurrent embed calls are coalesced into one backend call of up to
 * `maxBatch` inputs. Calls arriving in the same event-loop turn always share a batch. A batch leaves
 * at once when no batch is running, else when it is full or its oldest input has waited `maxWaitMs`,
 * and only while fewer than `maxInFlight` batches run: while the backend is busy, inputs pile up, so
 * batches grow with load and a lone call never waits. A call bigger than `maxBatch` spans batches.
 *
 * Failures stay with their callers: a failed batch fails only its callers, and when the backend
 * refuses a batch's inputs (INPUT_REJECTED: one caller's text too long for the model), each caller's
 * inputs are retried on their own, so only the caller that sent the bad input fails.
 *
 * Back-pressure: a caller whose signal aborts (its client went away, or timed out) is answered
 * CLIENT_CLOSED at once and its queued inputs never reach the backend; a running batch is aborted
 * once none of its callers still waits. Each lane holds at most `maxQueue` inputs: beyond that a
 * call is refused with OVERLOADED (503, Retry-After) instead of queueing without bound while the
 * backend is slow. A call that finds its lane empty is always taken, however big (one bulk ingest).
 *
 * Lanes: each kind has its own queue and its own `maxInFlight`, so a batch never mixes queries and
 * passages, and a query never waits behind passage batches — neither those queued here nor the one
 * running: a bulk ingest keeps the passage lane full while queries go straight to the backend
 * (where they have a pool of threads of their own, at a higher CPU priority than the passages': use-backend.ts).
 */
export function createMicroBatcher(options: MicroBatcherOptions) {
  const queues: Record<EmbedKind, Pending[]> = { query: [], passage: [] };
  const timers: Partial<Record<EmbedKind, NodeJS.Timeout>> = {};
  const inFlight: Record<EmbedKind, number> = { query: 0, passage: 0 };
  let scheduled = false;

  /** Pumps once per event-loop turn, after this turn's I/O callbacks have queued their inputs. */
  function schedulePump() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  }

  function pump() {
    for (const kind of ["query", "passage"] as const) {
      const queue = queues[kind];
      while (queue.length > 0 && inFlight[kind] < options.maxInFlight) {
        const waited = performance.now() - queue[0]!.enqueuedAt;
        // An idle lane gains nothing from waiting: only a busy one makes inputs wait for company.
        if (inFlight[kind] > 0 && queue.length < options.maxBatch && waited < options.maxWaitMs) {
          armTimer(kind, options.maxWaitMs - waited);
          break;
        }
        dispatch(kind, queue.splice(0, options.maxBatch));
      }
    }
  }

  function armTimer(kind: EmbedKind, delayMs: number) {
    if (timers[kind]) return;
    timers[kind] = setTimeout(
      () => {
        delete timers[kind];
        pump();
      },
      Math.max(0, Math.ceil(delayMs)),
    );
  }

  /** Runs `items` as one backend call and answers their callers; resolves once they are answered. */
  async function runItems(kind: EmbedKind, items: Pending[], batch: Batch): Promise<void> {
    try {
      const vectors = await options.run(
        items.map((p) => p.text),
        kind,
        batch.controller.signal,
      );
      for (const [i, p] of items.entries()) p.caller.deliver(p.index, vectors[i]!);
    } catch (err) {
      const callers = [...new Set(items.map((p) => p.caller))].filter((c) => !c.settled);
      if (err instanceof AppError && err.code === "INPUT_REJECTED" && callers.length > 1) {
        // One caller's input spoilt a shared call: give each caller a call of its own.
        await Promise.all(
          callers.map((caller) =>
            runItems(
              kind,
              items.filter((p) => p.caller === caller),
              batch,
            ),
          ),
        );
        return;
      }
      for (const caller of callers) caller.fail(err);
    }
  }

  function dispatch(kind: EmbedKind, items: Pending[]) {
    inFlight[kind]++;
    const now = performance.now();
    options.onDispatch?.(
      items.length,
      items.map((p) => (now - p.enqueuedAt) / 1000),
    );
    const batch: Batch = { items, controller: new AbortController() };
    for (const p of items) p.caller.running.add(batch);
    runItems(kind, items, batch).finally(() => {
      for (const p of items) p.caller.running.delete(batch);
      inFlight[kind]--;
      pump();
    });
  }

  /** Drops a settled caller's queued inputs, and aborts running batches that nobody waits for any more. */
  function forget(kind: EmbedKind, caller: Caller) {
    queues[kind] = queues[kind].filter((p) => p.caller !== caller);
    for (const batch of caller.running) {
      if (batch.items.every((p) => p.caller.settled)) batch.controller.abort();
    }
  }

  return {
    /** Resolves one vector per text, in order; rejects CLIENT_CLOSED once `signal` aborts. */
    embed(texts: string[], kind: EmbedKind, signal?: AbortSignal): Promise<Float32Array[]> {
      return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(clientClosed(signal.reason));
        if (texts.length === 0) return resolve([]);
        const queue = queues[kind];
        if (queue.length > 0 && queue.length + texts.length > (options.maxQueue ?? Number.POSITIVE_INFINITY)) {
          options.onShed?.(kind);
          return reject(
            new AppError("OVERLOADED", `The ${kind} embedding queue is full (${queue.length} inputs waiting).`, {
              retryAfterSeconds: RETRY_AFTER_SECONDS,
            }),
          );
        }
        const vectors = new Array<Float32Array>(texts.length);
        let remaining = texts.length;
        const onAbort = () => caller.fail(clientClosed(signal?.reason));
        const settle = () => {
          caller.settled = true;
          signal?.removeEventListener("abort", onAbort);
        };
        const caller: Caller = {
          settled: false,
          running: new Set(),
          deliver: (index, vector) => {
            if (caller.settled) return;
            vectors[index] = vector;
            if (--remaining > 0) return;
            settle();
            resolve(vectors);
          },
          fail: (err) => {
            if (caller.settled) return;
            settle();
            forget(kind, caller);
            reject(err);
          },
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        const enqueuedAt = performance.now();
        texts.forEach((text, index) => {
          queue.push({ caller, index, text, enqueuedAt });
        });
        schedulePump();
      });
    },

    /** Inputs waiting for a batch (for tests and shutdown). */
    get queued() {
      return queues.query.length + queues.passage.length;
    },
    get inFlight() {
      return inFlight.query + inFlight.passage;
    },
  };
}

export type MicroBatcher = ReturnType<typeof createMicroBatcher>;
