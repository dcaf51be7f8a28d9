import { describe, expect, it } from "vitest";
import { loadWindows } from "../../tools/bench/bench";
import { analyseProfile, packageOf } from "../../tools/bench/cold-start";
import { benchOptions } from "../../tools/bench/command";
import { percentile, summarise } from "../../tools/bench/load";
import { UsageError } from "../../tools/cli/usage-error";

/**
 * The benchmark's arithmetic, on inputs whose answers are known: percentiles, load windows, the
 * startup profile's analysis and the command line's checks. Its measurements of real processes
 * (RSS, CPU time) are test/tools/bench-processes.test.ts; the whole benchmark runs against the real
 * stack in test/e2e/bench.e2e.test.ts.
 */
describe("bench figures", () => {
  it("takes nearest-rank percentiles and per-run throughput", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 95), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([50, 95, 99, 100]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    const summary = summarise({
      samples: [10, 20, 30, 40].map((ms, i) => ({ at: i, ms, status: i === 3 ? 503 : 200 })),
      seconds: 2,
    });
    expect(summary).toMatchObject({ requests: 4, p50: 20, p95: 40, mean: 25, throughput: 2, statuses: { "200": 3, "503": 1 } });
  });

  it("splits a soak into time windows that keep every request and count errors where they happened", () => {
    const samples = Array.from({ length: 100 }, (_, i) => ({
      at: i * 10,
      ms: i < 50 ? 5 : 50,
      status: i === 99 ? 500 : i === 98 ? 429 : 200,
    }));
    const windows = loadWindows(samples, 10);
    expect(windows).toHaveLength(10);
    expect(windows.reduce((sum, w) => sum + w.requests, 0)).toBe(100);
    expect(windows[0]!.p95).toBe(5);
    expect(windows.at(-1)!.p95).toBe(50);
    expect(windows.at(-1)!.errors5xx).toBe(1);
    expect(windows.at(-1)!.throttled).toBe(1);
    expect(windows.slice(0, -1).every((w) => w.errors5xx === 0)).toBe(true);
  });

  it("reads a startup profile: CPU is sampled time minus idle and the wait for the request, self time per function and per package", () => {
    const frame = (functionName: string, url = "", lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)") },
        { id: 2, callFrame: frame("(idle)") },
        { id: 3, callFrame: frame("parse", "file:///x/index.js", 10) },
        { id: 4, callFrame: frame("(garbage collector)") },
        { id: 5, callFrame: frame("startup", "x/c9861c27-dbf3-473e-876a-5f212af07a2e", 1) },
      ],
      samples: [2, 3, 3, 4, 2, 5],
      timeDeltas: [1000, 2000, 3000, 500, 4000, 250],
      startTime: 0,
      endTime: 10_750,
    };
    const analysis = analyseProfile(profile, null, "index.js");
    // The first sample of work after an idle one is charged one sampling interval (the median gap,
    // 1 ms here), not the 2 ms since the idle sample: that was the wait for the request.
    expect(analysis.startupCpuMs).toBeCloseTo(4.75);
    expect(analysis.waitMs).toBeCloseTo(1);
    expect(analysis.profileMs).toBeCloseTo(10.75);
    expect(analysis.top[0]).toMatchObject({ functionName: "parse", selfMs: 4 });
    // wrangler's harness script is named apart from the bundle's code.
    expect(analysis.byPackage.map((p) => p.name)).toEqual(["(bundle, unmapped)", "(garbage collector)", "(check startup harness)"]);
    expect(packageOf("node_modules/@asteasolutions/zod-to-openapi/dist/index.mjs")).toBe("@asteasolutions/zod-to-openapi");
    expect(packageOf("node_modules/zod/v4/core/core.js")).toBe("zod");
    expect(packageOf("src/app.ts")).toBe("src/");
  });

  it("checks the command line: defaults, lists, and clear usage errors", () => {
    const now = new Date("2026-01-02T03:04:05.678Z");
    const defaults = benchOptions({}, {}, now);
    expect(defaults).toMatchObject({ docs: 1000, requests: 100, levels: [1, 4, 16, 32], batchSizes: [1, 50, 250], laneDocs: 1000 });
    expect(defaults.url).toBeUndefined();
    expect(defaults.outDir).toMatch(/\.bench\/2026-01-02T03-04-05-678Z$/);
    expect(benchOptions({ docs: "20", levels: "1,2", load: "40", concurrency: "2" }, {}).load).toEqual({ requests: 40, concurrency: 2 });
    expect(benchOptions({ docs: "20" }, {}).laneDocs).toBe(20);
    expect(benchOptions({ url: "https://rag.example.com" }, { EDGE_RAG_KEY: "k" }).key).toBe("k");
    expect(defaults.workerVars).toEqual({});
    expect(benchOptions({ "worker-var": ["QUERY_CACHE_TIERS=memory", "EMPTY="] }, {}).workerVars).toEqual({
      QUERY_CACHE_TIERS: "memory",
      EMPTY: "",
    });
    for (const values of [
      { docs: "0" },
      { docs: "ten" },
      { levels: "1,,4" },
      { "batch-sizes": "1001" },
      { concurrency: "4" },
      { url: "not a url" },
      { url: "https://rag.example.com" },
      { "worker-var": ["QUERY_CACHE_TIERS"] },
      { "worker-var": ["query_cache_tiers=memory"] },
      { url: "https://rag.example.com", key: "k", "worker-var": ["QUERY_CACHE_TIERS=memory"] },
    ])
      expect(() => benchOptions(values, {}), JSON.stringify(values)).toThrow(UsageError);
  });

  it("--only picks the sections to measure, in run order, and refuses what contradicts it", () => {
    expect(benchOptions({}, {}).sections).toEqual(["ingest", "queries", "degraded", "lane", "cold-start"]);
    expect(benchOptions({ load: "40" }, {}).sections).toEqual(["ingest", "queries", "degraded", "lane", "load", "cold-start"]);
    expect(benchOptions({ "no-cold-start": true }, {}).sections).toEqual(["ingest", "queries", "degraded", "lane"]);
    expect(benchOptions({ only: "lane,ingest" }, {}).sections).toEqual(["ingest", "lane"]);
    expect(benchOptions({ only: " lane " }, {}).sections).toEqual(["lane"]);
    expect(benchOptions({ only: "lane,cold-start", "no-cold-start": undefined }, {}).sections).toEqual(["lane", "cold-start"]);
    expect(benchOptions({ only: "load", load: "40" }, {}).sections).toEqual(["load"]);
    for (const values of [
      { only: "" },
      { only: "lane,typo" },
      { only: "lane,," },
      { only: "load" },
      { only: "lane", load: "40" },
      { only: "cold-start", "no-cold-start": true },
    ])
      expect(() => benchOptions(values, {}), JSON.stringify(values)).toThrow(UsageError);
  });
});
