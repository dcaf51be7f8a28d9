import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Origin, startOrigin } from "../helpers/origin.ts";

/** The dashboard and alert rules may only reference metrics that the real /metrics exports. */
const dir = resolve(import.meta.dirname, "../../grafana");
const dashboard = JSON.parse(readFileSync(resolve(dir, "origin-dashboard.json"), "utf8"));
const rules = parse(readFileSync(resolve(dir, "alerts.yaml"), "utf8"));
const dashboardExprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
const alertRules: { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }[] =
  rules.groups.flatMap((g: { rules: unknown[] }) => g.rules);

/** Metric names a PromQL expression selects; throws on a syntax error. */
function selectedMetrics(expr: string): string[] {
  // Grafana's variables are not PromQL: give them a neutral value before parsing.
  const promql = expr.replaceAll("$__rate_interval", "5m").replaceAll("$namespace", ".*");
  const names: string[] = [];
  parser.parse(promql).iterate({
    enter: (node) => {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in: ${expr}`);
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") names.push(promql.slice(node.from, node.to));
    },
  });
  return names;
}

let origin: Origin;
let exported: Set<string>;
beforeAll(async () => {
  // Remote backends that do not exist: the metric set is the same, and nothing loads a model.
  origin = await startOrigin({
    EMBEDDINGS_BACKEND: "openai",
    EMBEDDINGS_URL: "http://127.0.0.1:1/v1",
    EMBEDDINGS_MODEL: "m",
    GENERATION_BACKEND: "openai",
    GENERATION_URL: "http://127.0.0.1:1/v1",
    GENERATION_MODEL: "m",
  });
  const text = await (await fetch(`${origin.url}/metrics`)).text();
  exported = new Set(
    [...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].flatMap(([, name, type]) =>
      type === "histogram"
        ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
        : type === "summary"
          ? [name!, `${name}_sum`, `${name}_count`]
          : [name!],
    ),
  );
});
afterAll(() => origin?.stop());

describe("grafana dashboard and alert rules", () => {
  it("happy: every dashboard query parses and uses only exported metrics", () => {
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(10);
    for (const expr of dashboardExprs) {
      const names = selectedMetrics(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${name} in ${expr}`).toBe(true);
    }
  });

  it("happy: every alert rule parses, uses only exported metrics and says how bad and why", () => {
    expect(alertRules.length).toBeGreaterThanOrEqual(5);
    for (const rule of alertRules) {
      for (const name of selectedMetrics(rule.expr)) expect(exported.has(name), `${name} in ${rule.alert}`).toBe(true);
      expect(["page", "warning"]).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
    }
  });

  it("happy: the dashboard covers traffic, errors, latency, batching, tokens, backend errors, CPU and memory", () => {
    const all = dashboardExprs.join("\n");
    for (const metric of [
      "origin_http_requests_total",
      "origin_http_request_duration_seconds_bucket",
      "origin_embed_batch_size_bucket",
      "origin_embed_queue_wait_seconds_bucket",
      "origin_generation_tokens_total",
      "origin_backend_errors_total",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
    ]) {
      expect(all).toContain(metric);
    }
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("error: the check itself catches an unknown metric and broken PromQL", () => {
    expect(selectedMetrics("rate(origin_not_a_metric_total[5m])").every((n) => exported.has(n))).toBe(false);
    expect(() => selectedMetrics("sum(rate(origin_http_requests_total[5m])")).toThrow(/syntax error/);
  });
});
