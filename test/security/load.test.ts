import { describe, expect, it } from "vitest";
import { bindingsWith, callWithBindings, createKey, json, uniqueTenant } from "../worker/helpers";

/**
 * A bounded load test in CI size (issue 11): 32 concurrent clients against the real local stack
 * (the real origin embeds and generates; D1, the vector index, Redis through the bridge), a mix of
 * queries (keyword, hybrid, streamed), searches, stats, document reads and small ingests, one
 * tenant. The property: not one 5xx. Limits are lifted so that the load reaches every layer.
 */
const CONCURRENCY = 32;
const REQUESTS = 640;
const UNLIMITED = "100000000/60s";

describe("security: load", () => {
  it(`${REQUESTS} mixed requests at concurrency ${CONCURRENCY}: 0 5xx`, async () => {
    const bindings = bindingsWith({
      RATE_LIMIT_QUERY: UNLIMITED,
      RATE_LIMIT_INGEST: UNLIMITED,
      TENANT_RATE_LIMIT_QUERY: UNLIMITED,
      TENANT_RATE_LIMIT_INGEST: UNLIMITED,
    });
    const tenant = uniqueTenant("load");
    const { key } = await createKey(tenant, ["writer"]);
    const seed = Array.from({ length: 20 }, (_, i) => ({
      id: `load-${i}`,
      text: `Document ${i} about ${["airships", "rivers", "volcanoes", "libraries"][i % 4]}. It has a few sentences so that it chunks and answers. Fact number ${i} is stored here.`,
    }));
    const accepted = await callWithBindings(bindings, "/v1/documents", { auth: key, body: { documents: seed } });
    expect(accepted.status).toBe(202);
    const { job_id } = await json(accepted);
    for (let i = 0; i < 100; i++) {
      const job = await json(await callWithBindings(bindings, `/v1/jobs/${job_id}`, { auth: key }));
      if (job.status === "done" || job.status === "failed") break;
      await new Promise((r) => setTimeout(r, 200));
    }

    const requests: Array<() => Promise<Response>> = [
      () => callWithBindings(bindings, "/v1/query", { auth: key, body: { query: "Which document is about volcanoes?", mode: "keyword" } }),
      () => callWithBindings(bindings, "/v1/query", { auth: key, body: { query: "rivers and libraries", mode: "hybrid", cache: false } }),
      () =>
        callWithBindings(bindings, "/v1/query", { auth: key, body: { query: "airships", mode: "keyword", stream: true, cache: false } }),
      () => callWithBindings(bindings, "/v1/search", { auth: key, body: { query: "fact number", mode: "hybrid" } }),
      () => callWithBindings(bindings, "/v1/search", { auth: key, body: { query: "stored", mode: "keyword", top_k: 20 } }),
      () => callWithBindings(bindings, "/v1/stats", { auth: key }),
      () => callWithBindings(bindings, `/v1/documents/load-${Math.floor(Math.random() * 20)}`, { auth: key }),
      () =>
        callWithBindings(bindings, "/v1/documents", {
          auth: key,
          body: { documents: [{ id: `extra-${crypto.randomUUID()}`, text: "An extra document written under load." }] },
        }),
      () => callWithBindings(bindings, "/health"),
    ];

    const statuses: Record<number, number> = {};
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const request = requests[next++ % requests.length]!;
          const t0 = performance.now();
          const response = await request();
          await response.arrayBuffer(); // a streamed answer counts once it has ended
          latencies.push(performance.now() - t0);
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
    const errors = Object.entries(statuses).filter(([status]) => Number(status) >= 500);
    console.log(
      `load: ${latencies.length} requests at concurrency ${CONCURRENCY} in ${seconds.toFixed(1)} s (${(latencies.length / seconds).toFixed(0)}/s), ` +
        `p50 ${p(0.5)} ms, p95 ${p(0.95)} ms, statuses ${JSON.stringify(statuses)}`,
    );
    expect(latencies).toHaveLength(REQUESTS);
    expect(errors).toEqual([]);
  }, 180_000);
});
