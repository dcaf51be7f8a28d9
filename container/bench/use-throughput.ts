/**
 * Raw throughput of the USE lite backend (no HTTP, no micro-batcher): sentences per second at batch 1
 * and batch 64, with one worker thread and with the pool (EMBED_WORKERS, default all cores).
 *
 *   npm --prefix container run bench:use
 */
import { availableParallelism } from "node:os";
import { createUseBackend } from "../src/embeddings/use-backend.ts";
import { fmt, loadTexts, percentile } from "./lib.ts";

const { queries, sentences } = loadTexts();
const poolSize = Number(process.env.EMBED_WORKERS ?? Math.min(availableParallelism(), 8));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);

async function measure(workers: number, batch: number, texts: string[]) {
  const backend = await createUseBackend({ workers });
  try {
    await backend.embed(texts.slice(0, 64), "passage"); // warm-up
    const latencies: number[] = [];
    let done = 0;
    const started = performance.now();
    while (performance.now() - started < SECONDS * 1000) {
      const slice = Array.from({ length: batch }, (_, i) => texts[(done + i) % texts.length]!);
      const t = performance.now();
      await backend.embed(slice, "passage");
      latencies.push(performance.now() - t);
      done += batch;
    }
    const seconds = (performance.now() - started) / 1000;
    return { rate: done / seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95) };
  } finally {
    await backend.close();
  }
}

console.log(`USE lite raw throughput (tfjs-backend-wasm, ${availableParallelism()} cores, ${SECONDS}s per cell)`);
console.log("inputs     workers  batch  sentences/s  call p50 ms  call p95 ms");
for (const [name, texts] of [
  ["questions", queries],
  ["sentences", sentences],
] as const) {
  for (const workers of [...new Set([1, poolSize])]) {
    for (const batch of [1, 64]) {
      const r = await measure(workers, batch, texts);
      console.log(
        `${name.padEnd(10)} ${String(workers).padStart(7)} ${String(batch).padStart(6)} ${fmt(r.rate)}     ${fmt(r.p50)}     ${fmt(r.p95)}`,
      );
    }
  }
}
