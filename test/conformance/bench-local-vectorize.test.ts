/**
 * Benchmark of the local index at the size the brief asks for: 30k vectors × 512 dims in one
 * index (10 tenant namespaces), cosine. Prints write throughput, query latency (through the
 * adapter and Durable Object RPC, as the worker sees it), the matrix size and the rebuild time after
 * eviction. Not part of the default run:
 *
 *   npx vitest run --config test/conformance/vitest.bench.config.ts
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { createLocalVectorize, localVectorIndexStub } from "../../src/vector/create-local-vectorize";
import { uniqueName } from "./vectorize.suite";

const DIMENSIONS = 512;
const VECTORS = 30_000;
const TENANTS = 10;

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

it(`${VECTORS} × ${DIMENSIONS} vectors: write, query, rebuild`, async () => {
  const namespace = env.VECTOR_INDEX_DO!;
  const indexName = uniqueName("bench");
  const index = createLocalVectorize(namespace, {
    indexName,
    dimensions: DIMENSIONS,
    metric: "cosine",
    metadataIndexes: { tenant: "string", year: "number" },
  });
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed / 0x7fffffff) * 2 - 1;
  };
  const vector = () => Float32Array.from({ length: DIMENSIONS }, rand);

  const writeStart = Date.now();
  for (let i = 0; i < VECTORS; i += 1000) {
    await index.upsert(
      Array.from({ length: 1000 }, (_, j) => ({
        id: `v${i + j}`,
        namespace: `tenant-${(i + j) % TENANTS}`,
        values: vector(),
        metadata: { tenant: `tenant-${(i + j) % TENANTS}`, year: 2000 + ((i + j) % 25), text: "chunk text ".repeat(20) },
      })),
    );
  }
  const writeMs = Date.now() - writeStart;

  const time = async (run: () => Promise<unknown>, n = 20) => {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await run();
      samples.push(performance.now() - start);
    }
    return { p50: percentile(samples, 50).toFixed(1), p95: percentile(samples, 95).toFixed(1) };
  };
  const query = vector();
  const tenantQuery = await time(() => index.query(query, { namespace: "tenant-3", topK: 100 }));
  const filtered = await time(() =>
    index.query(query, { namespace: "tenant-3", topK: 20, filter: { year: { $gte: 2010 } }, returnMetadata: "all" }),
  );
  const globalQuery = await time(() => index.query(query, { topK: 100 }));
  const stub = localVectorIndexStub(namespace, indexName);
  const stats = await stub.memoryStats();

  await evictDurableObject(stub);
  const rebuildStart = Date.now();
  const afterRestart = await index.query(query, { namespace: "tenant-3", topK: 5 });
  const rebuildMs = Date.now() - rebuildStart;

  console.log(
    JSON.stringify(
      {
        vectors: VECTORS,
        dimensions: DIMENSIONS,
        writeMs,
        writeVectorsPerSecond: Math.round(VECTORS / (writeMs / 1000)),
        queryMs: { tenantNamespace3k: tenantQuery, tenantFilteredWithMetadata: filtered, allNamespaces30k: globalQuery },
        matrixMiB: +(stats.matrixBytes / 2 ** 20).toFixed(1),
        capacity: stats.capacity,
        firstQueryAfterEvictionMs: rebuildMs,
      },
      null,
      2,
    ),
  );
  expect(stats.vectors).toBe(VECTORS);
  expect(afterRestart.count).toBe(5);
}, 600_000);
