/**
 * Micro-batching benchmark: /v1/embed over real HTTP (the app on @hono/node-server, port 0, the real
 * USE model), one question per request as the edge sends queries, at concurrency 1, 8 and 32, with and
 * without micro-batching, against the backend's raw batch throughput measured in the same run
 * (backend.embed of 64 questions at a time, no HTTP), right before each pair of runs.
 *
 *   npm --prefix container run bench            # BENCH_SECONDS=3 per run, BENCH_ROUNDS=3
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { SignJWT } from "jose";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { createMetrics } from "../src/metrics.ts";
import { createEmbeddings, createServices } from "../src/services.ts";
import { fmt, loadTexts, percentile } from "./lib.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SECRET = "bench-secret-0123456789abcdef-0123456789";
const config = parseConfig({ ...process.env, ORIGIN_JWT_SECRET: SECRET, LOG_LEVEL: "warn" });
const { queries } = loadTexts();
const embeddings = await createEmbeddings(config);

async function rawBatchThroughput(seconds: number) {
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < seconds * 1000) {
    await embeddings.embed(
      Array.from({ length: 64 }, (_, i) => queries[(done + i) % queries.length]!),
      "query",
    );
    done += 64;
  }
  return done / ((performance.now() - started) / 1000);
}

async function httpRun(batching: boolean, concurrency: number) {
  // Without micro-batching every request is its own backend call (batch of 1), sent at once.
  const services = createServices({
    config: batching ? config : { ...config, EMBED_MAX_BATCH: 1, EMBED_MAX_WAIT_MS: 0 },
    logger: createLogger("warn"),
    metrics: createMetrics(),
    embeddings,
    draining: () => false,
    ...(batching ? {} : { maxInFlight: Number.POSITIVE_INFINITY }),
  });
  const server = serve({ fetch: createApp(services).fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/embed`;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("edge-rag-worker")
    .setAudience("origin:/v1/embed")
    .setIssuedAt()
    .setExpirationTime("60s")
    .sign(new TextEncoder().encode(SECRET));
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const body = JSON.stringify({ inputs: [queries[next++ % queries.length]], kind: "query" });
        const t = performance.now();
        const response = await fetch(url, { method: "POST", headers, body });
        if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
        await response.arrayBuffer();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await new Promise((r) => server.close(r));
  const batches = await services.metrics.embedBatchSize.get();
  const sum = batches.values.find((v) => v.metricName === "origin_embed_batch_size_sum")?.value ?? 0;
  const count = batches.values.find((v) => v.metricName === "origin_embed_batch_size_count")?.value ?? 1;
  return { rate: latencies.length / seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95), meanBatch: sum / count };
}

await rawBatchThroughput(SECONDS); // warm-up

// This machine is shared and its load drifts: every (off, on) pair runs right after its own raw
// measurement, ROUNDS times, and the table reports medians.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => percentile(xs, 50);
type Run = Awaited<ReturnType<typeof httpRun>> & { raw: number };
const cells = new Map<string, Run[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const concurrency of [1, 8, 32]) {
    const raw = await rawBatchThroughput(SECONDS / 2);
    for (const batching of [false, true]) {
      const key = `${batching ? "on" : "off"}|${concurrency}`;
      cells.set(key, [...(cells.get(key) ?? []), { ...(await httpRun(batching, concurrency)), raw }]);
    }
  }
}
const raws = [...cells.values()].flat().map((r) => r.raw);
console.log(
  `/v1/embed micro-batching benchmark: ${embeddings.model}, ${config.EMBED_WORKERS} worker thread(s), ` +
    `EMBED_MAX_BATCH=${config.EMBED_MAX_BATCH}, EMBED_MAX_WAIT_MS=${config.EMBED_MAX_WAIT_MS}, ` +
    `${SECONDS}s per run, median of ${ROUNDS} rounds`,
);
console.log(
  `backend raw batch throughput (batch 64, no HTTP): median ${median(raws).toFixed(1)} sentences/s (min ${Math.min(...raws).toFixed(1)}, max ${Math.max(...raws).toFixed(1)})`,
);
console.log("batching  concurrency  sentences/s  p50 ms   p95 ms   mean batch  ratio to raw");
for (const concurrency of [1, 8, 32]) {
  for (const mode of ["off", "on"]) {
    const runs = cells.get(`${mode}|${concurrency}`)!;
    console.log(
      `${mode.padEnd(9)} ${String(concurrency).padStart(11)}  ${fmt(median(runs.map((r) => r.rate)))}   ` +
        `${fmt(median(runs.map((r) => r.p50)))} ${fmt(median(runs.map((r) => r.p95)))}   ` +
        `${fmt(median(runs.map((r) => r.meanBatch)))}     ${median(runs.map((r) => r.rate / r.raw)).toFixed(2)}`,
    );
  }
}
for (const c of [8, 32]) {
  const on = median(cells.get(`on|${c}`)!.map((r) => r.rate));
  const off = median(cells.get(`off|${c}`)!.map((r) => r.rate));
  console.log(`speed-up from micro-batching at concurrency ${c}: ${(on / off).toFixed(2)}x`);
}
await embeddings.close();
