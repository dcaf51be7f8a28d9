import type { EmbedKind } from "./port.ts";

export type MicroBatcherOptions = {
  /** Most inputs sent to the backend in one call. */
  maxBatch: number;
  /** Longest an input waits for company before its batch goes anyway. 0 = go at once. */
  maxWaitMs: number;
  /** Backend calls running at once per kind (lane): queries and passages each have this many. */
  maxInFlight: number;
  run: (texts: string[], kind: EmbedKind) => Promise<Float32Array[]>;
  /** Observes every dispatched batch: its size and how long each of its inputs queued (seconds). */
  onDispatch?: (size: number, waits: number[]) => void;
};

type Pending = {
  text: string;
  enqueuedAt: number;
  deliver: (vector: Float32Array) => void;
  fail: (err: unknown) => void;
};

/**
 * Dynamic micro-batching: concurrent embed calls are coalesced into one backend call of up to
 * `maxBatch` inputs. Calls arriving in the same event-loop turn always share a batch. A batch leaves
 * at once when no batch is running, else when it is full or its oldest input has waited `maxWaitMs`,
 * and only while fewer than `maxInFlight` batches run: while the backend is busy, inputs pile up, so
 * batches grow with load and a lone call never waits. A call bigger than `maxBatch` spans batches; a
 * failed batch fails only its callers.
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

  function dispatch(kind: EmbedKind, batch: Pending[]) {
    inFlight[kind]++;
    const now = performance.now();
    options.onDispatch?.(
      batch.length,
      batch.map((p) => (now - p.enqueuedAt) / 1000),
    );
    options
      .run(
        batch.map((p) => p.text),
        kind,
      )
      .then(
        (vectors) => {
          for (const [i, p] of batch.entries()) p.deliver(vectors[i]!);
        },
        (err) => {
          for (const p of batch) p.fail(err);
        },
      )
      .finally(() => {
        inFlight[kind]--;
        pump();
      });
  }

  return {
    embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
      return new Promise((resolve, reject) => {
        const vectors = new Array<Float32Array>(texts.length);
        let remaining = texts.length;
        let failed = false;
        const enqueuedAt = performance.now();
        texts.forEach((text, i) => {
          queues[kind].push({
            text,
            enqueuedAt,
            deliver: (vector) => {
              vectors[i] = vector;
              if (--remaining === 0 && !failed) resolve(vectors);
            },
            fail: (err) => {
              if (failed) return;
              failed = true;
              reject(err);
            },
          });
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
