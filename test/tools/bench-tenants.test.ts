import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BenchResult } from "../../tools/bench/bench";
import { benchOptions } from "../../tools/bench/command";
import { renderReport } from "../../tools/bench/report";
import { createTenantKeys, renderTenants, type TenantFigures, type TenantMeasure, tenantRows } from "../../tools/bench/tenants";
import { UsageError } from "../../tools/cli/usage-error";
import { ROOT } from "../../tools/stack/paths";
import { queryLocalD1, wrangler } from "../../tools/stack/wrangler";

/**
 * The tenant-count section of the bench (issue 23): its flags, its ratios and table on inputs whose
 * answers are known, and the bulk key writer against a real local D1 (wrangler, as the stack uses
 * it). The whole section runs against a real stack with `npm run bench -- --only tenants --tenants 1,20`.
 */
/** A count's figures, beside a 1-tenant deployment that measured 10 docs/s, a p95 of 200 ms and stats in 4 ms. */
const measure = (count: number, docs: number, p95: number, stats: number): TenantMeasure => ({
  count,
  ingest_docs_per_s: docs,
  query_p95_ms: p95,
  query_p50_ms: p95 / 2,
  stats_ms: stats,
  baseline: { ingest_docs_per_s: 10, query_p95_ms: 200, query_p50_ms: 100, stats_ms: 4 },
  populate_s: count / 10,
  ingest_failed: 0,
});

describe("bench --tenants flags (happy)", () => {
  it("takes an ascending list from 1, runs the section only when asked, and starts another checkout's stack", () => {
    expect(benchOptions({}, {}).tenants).toBeUndefined();
    expect(benchOptions({}, {}).sections).not.toContain("tenants");
    const options = benchOptions({ tenants: "1,100,1000,5000" }, {});
    expect(options.tenants).toEqual([1, 100, 1000, 5000]);
    expect(options.sections).toEqual(["ingest", "queries", "degraded", "lane", "tenants", "cold-start"]);
    expect(benchOptions({ only: "tenants", tenants: "1,10" }, {}).sections).toEqual(["tenants"]);
    // This checkout is a checkout of the repository; its stack then comes from its own code.
    expect(benchOptions({ only: "tenants", tenants: "1", checkout: ROOT }, {}).checkout).toBe(ROOT);
    expect(benchOptions({ tenants: "1", checkout: ROOT, "no-cold-start": true }, {}).sections).not.toContain("cold-start");
  });
});

describe("bench --tenants flags (error)", () => {
  it("refuses lists that are not ascending from 1, remote targets, a section without its flag, and a folder that is no checkout", () => {
    for (const values of [
      { tenants: "100,1000" },
      { tenants: "1,1000,100" },
      { tenants: "1,1" },
      { tenants: "1,0" },
      { tenants: "" },
      { tenants: "1,100001" },
      { only: "tenants" },
      { only: "queries", tenants: "1,10" },
      { tenants: "1,10", url: "https://rag.example.com", key: "k" },
      { checkout: ROOT, url: "https://rag.example.com", key: "k", "no-cold-start": true },
      { only: "tenants", tenants: "1", checkout: tmpdir() },
      { tenants: "1", checkout: ROOT },
    ])
      expect(() => benchOptions(values, {}), JSON.stringify(values)).toThrow(UsageError);
  });
});

describe("tenant-count figures (happy)", () => {
  it("takes every ratio as a cost against the 1-tenant deployment measured beside it: slower ingest, p95 and stats are all above 1", () => {
    const rows = tenantRows([measure(1, 10, 200, 4), measure(5000, 8, 220, 2)]);
    expect(rows[0]).toMatchObject({ ingest_ratio: 1, query_ratio: 1, stats_ratio: 1 });
    expect(rows[1]).toMatchObject({ count: 5000, ingest_ratio: 1.25, query_ratio: 1.1, stats_ratio: 0.5, populate_s: 500 });
    // Each count against its own side-by-side figures, not the first row's.
    const noisy = tenantRows([
      { ...measure(1000, 5, 400, 8), baseline: { ingest_docs_per_s: 5, query_p95_ms: 400, query_p50_ms: 200, stats_ms: 8 } },
    ]);
    expect(noisy[0]).toMatchObject({ ingest_ratio: 1, query_ratio: 1, stats_ratio: 1 });
  });

  it("renders one row per count and says whether the goal at 5,000 tenants is met", () => {
    const figures = (rows: TenantMeasure[]): TenantFigures => ({
      rounds: 4,
      populateConcurrency: 16,
      ingestDocuments: 50,
      requests: 40,
      measuredTenantDocuments: 200,
      rows: tenantRows(rows),
    });
    const met = renderTenants(figures([measure(1, 10, 200, 4), measure(100, 10, 205, 4), measure(5000, 9.5, 210, 4.2)]));
    expect(met).toContain("| 100 | 10.0 | 10.0 (10.0) | 1.00× | 205.0 (200.0) | 1.02× | 102.5 (100.0) | 4.0 (4.0) | 1.00× |");
    expect(met).toContain("| 5000 | 500.0 | 9.5 (10.0) | 1.05× | 210.0 (200.0) | 1.05× | 105.0 (100.0) | 4.2 (4.0) | 1.05× |");
    expect(met).toContain("in 4 alternating rounds per count");
    expect(met).toContain("largest ratio is **1.05×** (goal met)");
    const missed = renderTenants(figures([measure(1, 10, 200, 4), measure(5000, 5, 200, 4)]));
    expect(missed).toContain("largest ratio is **2.00×** (goal MISSED)");
    const small = renderTenants(figures([measure(1, 10, 200, 4), measure(20, 10, 200, 4)]));
    expect(small).toContain("(the goal is stated at 5,000)");
    expect(renderTenants(figures([{ ...measure(1, 10, 200, 4), ingest_failed: 2 }]))).toContain("**2 document(s)");
  });

  it("puts the section and the measured commit in the report", () => {
    const result = {
      startedAt: "2026-01-02T03:04:05.678Z",
      seconds: 60,
      machine: { cores: 2, cpu: "cpu", memoryGiB: 8, node: "v22", platform: "linux x64", embeddingModel: "m", dimensions: 512 },
      target: { url: "local stack", local: true, commit: "4175a8c" },
      options: { docs: 20, requests: 10 },
      ingest: [],
      embedder: null,
      storage: null,
      queries: [],
      lane: null,
      load: null,
      memory: null,
      coldStart: null,
      tenants: {
        rounds: 4,
        populateConcurrency: 16,
        ingestDocuments: 20,
        requests: 10,
        measuredTenantDocuments: 20,
        rows: tenantRows([measure(1, 10, 200, 4)]),
      },
      notes: [],
    } as unknown as BenchResult;
    const report = renderReport(result, []);
    expect(report).toContain("Target: local stack at 4175a8c.");
    expect(report).toContain("## Tenant count\n");
    expect(report).toContain("| 1 | 0.1 | 10.0 (10.0) | 1.00× | 200.0 (200.0) | 1.00× | 100.0 (100.0) | 4.0 (4.0) | 1.00× |");
  });
});

describe("tenant keys in bulk (happy)", () => {
  it("writes one admin key per tenant into a local D1, each key's secret hashing to its row", { timeout: 180_000 }, async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "edge-rag-tenant-keys-"));
    try {
      await wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", stateDir]);
      const tenants = Array.from({ length: 1203 }, (_, i) => `t-${i}`);
      const keys = await createTenantKeys({ root: ROOT, stateDir, tenants });
      expect([...keys.keys()]).toEqual(tenants);
      const rows = await queryLocalD1<Record<string, string>>(
        stateDir,
        "SELECT id, tenant, roles, secret_hash FROM api_keys ORDER BY rowid",
      );
      expect(rows.map((row) => row.tenant)).toEqual(tenants);
      for (const row of [rows[0]!, rows[600]!, rows[1202]!]) {
        const [, id, secret] = /^erk_([^_]+)_(.+)$/.exec(keys.get(row.tenant!)!)!;
        expect(row.id).toBe(id);
        expect(row.roles).toBe('["admin"]');
        expect(row.secret_hash).toBe(createHash("sha256").update(secret!).digest("hex"));
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
