import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { AppEnv, QueryOutcome } from "../../src/app-env";
import { ANALYTICS_DATA_POINT, analyticsColumn, observe } from "../../src/middleware/observe";
import { decide } from "../../src/middleware/rate-limit";
import { RateLimitStoreUnavailable } from "../../src/rate-limit/rate-limiter";
import { ROOT } from "../../tools/stack/paths";

/**
 * The edge dashboard and alert rules (container/grafana/edge-*) query the worker's Analytics
 * Engine data points through the SQL API. Every query must parse (a light check of Analytics
 * Engine's ClickHouse-like dialect: clause order, balanced parentheses, known functions) and name
 * only columns the worker writes (ANALYTICS_DATA_POINT), from a dataset wrangler.toml binds; and
 * the middleware must write exactly that layout.
 */
const grafana = join(ROOT, "container/grafana");
const dashboard = JSON.parse(readFileSync(join(grafana, "edge-dashboard.json"), "utf8"));
const alerts = parse(readFileSync(join(grafana, "edge-alerts.yaml"), "utf8"));
const datasource = parse(readFileSync(join(grafana, "edge-datasource.yaml"), "utf8"));
const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
const DATASETS = [...toml.matchAll(/^dataset = "([a-z0-9_]+)"$/gm)].map((m) => m[1]!);

type Panel = { id: number; title: string; type: string; targets: Array<{ query: string; format: string; datasource: { type: string } }> };
const panels: Panel[] = dashboard.panels;
const alertRules: Array<{
  title: string;
  condition: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  data: any[];
}> = alerts.groups.flatMap((g: { rules: unknown[] }) => g.rules);

const COLUMNS = new Set([
  "timestamp",
  "_sample_interval",
  ...ANALYTICS_DATA_POINT.indexes.map((_, i) => `index${i + 1}`),
  ...ANALYTICS_DATA_POINT.blobs.map((_, i) => `blob${i + 1}`),
  ...ANALYTICS_DATA_POINT.doubles.map((_, i) => `double${i + 1}`),
]);
/** Functions of Analytics Engine's SQL reference these queries may use (count() undercounts sampled rows: never). */
const FUNCTIONS = new Set(["sum", "if", "quantileexactweighted", "intdiv", "touint32", "todatetime", "now"]);
const KEYWORDS = new Set(
  [
    "select",
    "from",
    "where",
    "group",
    "by",
    "order",
    "limit",
    "as",
    "and",
    "or",
    "not",
    "desc",
    "asc",
    "interval",
    "minute",
    "hour",
    "day",
  ].map((k) => k),
);
const CLAUSES = ["select", "from", "where", "group by", "order by", "limit"];

/** Grafana's and the Altinity plugin's macros, expanded the way the plugin does before sending. */
function expandMacros(sql: string, dataset: string): string {
  return sql
    .replaceAll("$timeSeries", "(intDiv(toUInt32(timestamp), 60) * 60) * 1000")
    .replaceAll("$timeFilter", "timestamp >= toDateTime(1767225600) AND timestamp <= toDateTime(1767229200)")
    .replaceAll("$interval", "60")
    .replaceAll("$dataset", dataset);
}

type Token = { kind: "word" | "number" | "string" | "op" | "open" | "close" | "comma"; text: string };

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s+|([A-Za-z_][A-Za-z0-9_]*)|(\d+(?:\.\d+)?)|('(?:[^'\\]|\\.)*')|(>=|<=|!=|<>|[-+*/=<>])|(\()|(\))|(,)|(.)/gy;
  for (let match = pattern.exec(sql); match && match.index < sql.length; match = pattern.exec(sql)) {
    const [, word, number, string, op, open, close, comma, other] = match;
    if (other !== undefined) throw new Error(`unexpected ${JSON.stringify(other)} in: ${sql}`);
    if (word) tokens.push({ kind: "word", text: word });
    else if (number) tokens.push({ kind: "number", text: number });
    else if (string) tokens.push({ kind: "string", text: string });
    else if (op) tokens.push({ kind: "op", text: op });
    else if (open) tokens.push({ kind: "open", text: open });
    else if (close) tokens.push({ kind: "close", text: close });
    else if (comma) tokens.push({ kind: "comma", text: comma });
  }
  return tokens;
}

/** Checks one query; returns the columns it reads and the `column AS alias` pairs. Throws on anything off. */
function checkSql(sql: string): { columns: string[]; aliases: Array<[string, string]>; dataset: string } {
  if (sql.includes("$")) throw new Error(`unexpanded variable in: ${sql}`);
  if (/'[^']*$/.test(sql.replace(/'[^']*'/g, ""))) throw new Error(`unterminated string in: ${sql}`);
  const tokens = tokenize(sql);
  let depth = 0;
  for (const t of tokens) {
    depth += t.kind === "open" ? 1 : t.kind === "close" ? -1 : 0;
    if (depth < 0) throw new Error(`unbalanced ) in: ${sql}`);
  }
  if (depth !== 0) throw new Error(`unbalanced ( in: ${sql}`);
  // Top-level clauses, in order.
  const clauses: string[] = [];
  depth = 0;
  tokens.forEach((t, i) => {
    depth += t.kind === "open" ? 1 : t.kind === "close" ? -1 : 0;
    if (depth !== 0 || t.kind !== "word") return;
    const word = t.text.toLowerCase();
    const next = tokens[i + 1]?.text.toLowerCase();
    if (["select", "from", "where", "limit"].includes(word)) clauses.push(word);
    if ((word === "group" || word === "order") && next === "by") clauses.push(`${word} by`);
  });
  if (clauses[0] !== "select" || clauses[1] !== "from") throw new Error(`expected SELECT … FROM … in: ${sql}`);
  const order = clauses.map((c) => CLAUSES.indexOf(c));
  if (order.some((o, i) => i > 0 && o <= order[i - 1]!)) throw new Error(`clauses out of order (${clauses.join(", ")}) in: ${sql}`);
  const fromIndex = tokens.findIndex((t) => t.kind === "word" && t.text.toLowerCase() === "from");
  const dataset = tokens[fromIndex + 1]?.text ?? "";

  const aliases: Array<[string, string]> = [];
  const defined = new Set<string>();
  tokens.forEach((t, i) => {
    if (t.kind === "word" && t.text.toLowerCase() === "as") {
      const alias = tokens[i + 1];
      if (alias?.kind !== "word") throw new Error(`AS without a name in: ${sql}`);
      defined.add(alias.text);
      const previous = tokens[i - 1]!;
      if (previous.kind === "word") aliases.push([previous.text, alias.text]);
    }
  });
  const columns: string[] = [];
  tokens.forEach((t, i) => {
    if (t.kind !== "word" || i === fromIndex + 1) return;
    const lower = t.text.toLowerCase();
    if (KEYWORDS.has(lower) || defined.has(t.text)) return;
    if (tokens[i + 1]?.kind === "open") {
      if (!FUNCTIONS.has(lower)) throw new Error(`function ${t.text} is not in the allowed list in: ${sql}`);
      return;
    }
    if (!COLUMNS.has(t.text)) throw new Error(`unknown column ${t.text} in: ${sql}`);
    columns.push(t.text);
  });
  return { columns, aliases, dataset };
}

const SCHEMA_NAMES = new Set<string>([...ANALYTICS_DATA_POINT.indexes, ...ANALYTICS_DATA_POINT.blobs, ...ANALYTICS_DATA_POINT.doubles]);

function expectValid(sql: string, label: string) {
  const { columns, aliases, dataset } = checkSql(sql);
  expect(DATASETS, `${label}: FROM ${dataset}`).toContain(dataset);
  expect(columns.length, label).toBeGreaterThan(0);
  // A column aliased with a schema field's name must be that field's column: reordering the data
  // point without the dashboard fails here.
  for (const [column, alias] of aliases)
    if (SCHEMA_NAMES.has(alias)) expect(column, `${label}: ${column} AS ${alias}`).toBe(analyticsColumn(alias as never));
  return columns;
}

describe("edge dashboard (Analytics Engine SQL)", () => {
  it("happy: every panel query parses and reads only columns the worker writes, for each dataset", () => {
    expect(DATASETS).toEqual(["edge_rag_staging", "edge_rag"]);
    const queries = panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, sql: t.query })));
    expect(queries.length).toBeGreaterThanOrEqual(12);
    const datasetOptions: string[] = dashboard.templating.list.find((v: { name: string }) => v.name === "dataset").query.split(",");
    expect(datasetOptions.sort()).toEqual([...DATASETS].sort());
    for (const dataset of datasetOptions) for (const { panel, sql } of queries) expectValid(expandMacros(sql, dataset), panel);
  });

  it("happy: the panels the issue asks for exist, each on the columns that hold them", () => {
    const sqlOf = (title: RegExp) => {
      const panel = panels.find((p) => title.test(p.title));
      if (!panel) throw new Error(`no panel ${title}`);
      return panel.targets.map((t) => t.query).join("\n");
    };
    const col = analyticsColumn;
    const p50 = sqlOf(/^p50 latency by route/);
    expect(p50).toContain(`quantileExactWeighted(0.5)(${col("latency_ms")}, _sample_interval)`);
    expect(p50).toContain(`${col("route")} AS route`);
    expect(sqlOf(/^p95 latency by route/)).toContain(`quantileExactWeighted(0.95)(${col("latency_ms")}`);
    expect(sqlOf(/Error and 429/)).toContain(`${col("status_code")} >= 500`);
    expect(sqlOf(/Error and 429/)).toContain(`${col("status_code")} = 429`);
    expect(sqlOf(/Cache hit ratio/)).toContain(`${col("cache_status")} = 'hit'`);
    expect(sqlOf(/Degraded answers by reason/)).toContain(`${col("degraded_reasons")} AS degraded_reasons`);
    expect(sqlOf(/Top tenants/)).toContain(`${col("tenant")} AS tenant`);
    expect(sqlOf(/Requests by colo/)).toContain(`${col("colo")} AS colo`);
    expect(sqlOf(/Rate limiter store/)).toContain(`${col("rate_limit_store")} AS rate_limit_store`);
    for (const p of panels) for (const t of p.targets) expect(t.datasource.type).toBe("vertamedia-clickhouse-datasource");
    // Counts are weighted: Analytics Engine samples, and count() would undercount.
    for (const p of panels) for (const t of p.targets) expect(t.query, p.title).not.toMatch(/count\s*\(/i);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("happy: the data source is the SQL API with a bearer header, as Cloudflare documents", () => {
    const [source] = datasource.datasources;
    expect(source.type).toBe("vertamedia-clickhouse-datasource");
    expect(source.url).toMatch(
      /^https:\/\/api\.cloudflare\.com\/client\/v4\/accounts\/\$\{CLOUDFLARE_ACCOUNT_ID\}\/analytics_engine\/sql$/,
    );
    expect(source.jsonData.httpHeaderName1).toBe("Authorization");
    expect(source.secureJsonData.httpHeaderValue1).toMatch(/^Bearer \$\{[A-Z_]+\}$/);
    for (const rule of alertRules) expect(rule.data[0].datasourceUid).toBe(source.uid);
  });

  it("happy: the edge alert rules parse, read known columns and say how bad and why", () => {
    const titles = alertRules.map((r) => r.title);
    expect(titles).toEqual(
      expect.arrayContaining(["EdgeHighErrorRate", "EdgeDegradedAnswers", "EdgeQueryLatencyHigh", "EdgeRateLimiterFailOpen"]),
    );
    for (const rule of alertRules) {
      const [query, threshold] = rule.data;
      const columns = expectValid(query.model.query, rule.title);
      expect(columns.length).toBeGreaterThan(0);
      expect(rule.condition).toBe(threshold.refId);
      expect(threshold.model).toMatchObject({ type: "threshold", expression: query.refId });
      expect(["page", "warning"]).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.title).toBeTruthy();
    }
    const failOpen = alertRules.find((r) => r.title === "EdgeRateLimiterFailOpen")!;
    expect(failOpen.data[0].model.query).toContain(`${analyticsColumn("rate_limit_store")} = 'fail-open'`);
  });

  it("error: the check itself catches unknown columns, functions, datasets and broken SQL", () => {
    const ok = "SELECT SUM(_sample_interval) AS n FROM edge_rag WHERE timestamp > NOW() - INTERVAL '5' MINUTE";
    expect(() => expectValid(ok, "ok")).not.toThrow();
    expect(() => checkSql(`SELECT blob${ANALYTICS_DATA_POINT.blobs.length + 1} AS x FROM edge_rag`)).toThrow(/unknown column/);
    expect(() => checkSql(`SELECT double${ANALYTICS_DATA_POINT.doubles.length + 1} FROM edge_rag`)).toThrow(/unknown column/);
    expect(() => checkSql("SELECT count() AS n FROM edge_rag")).toThrow(/function count/);
    expect(() => checkSql("SELECT SUM(_sample_interval AS n FROM edge_rag")).toThrow(/unbalanced/);
    expect(() => checkSql("SELECT blob1 FROM edge_rag GROUP BY blob1 WHERE blob2 = 'x'")).toThrow(/out of order/);
    expect(() => checkSql("SELECT blob1 FROM edge_rag WHERE blob2 = 'x")).toThrow(/unterminated/);
    expect(() => checkSql("SELECT blob1 FROM $dataset")).toThrow(/unexpanded/);
    expect(() => expectValid("SELECT SUM(_sample_interval) AS n FROM edge_rag_dev", "x")).toThrow();
    expect(() => expectValid("SELECT blob3 AS route FROM edge_rag", "x")).toThrow();
  });
});

describe("observe middleware: the data point it writes", () => {
  type Point = { indexes: string[]; blobs: string[]; doubles: number[] };

  function app() {
    const points: Point[] = [];
    const pending: Promise<unknown>[] = [];
    const hono = new Hono<AppEnv>();
    hono.use(async (c, next) => {
      if (c.req.header("x-tenant")) c.set("principal", { tenant: c.req.header("x-tenant") } as never);
      if (c.req.header("x-store")) c.set("rateLimitStore", c.req.header("x-store") as "fail-open");
      await next();
    });
    hono.use(observe);
    // The routes hand their outcome over in the request context (a stream: once it ended); the bodies say nothing.
    hono.post("/v1/query", (c) => {
      if (c.req.header("accept") === "text/event-stream") {
        const ended = Promise.withResolvers<QueryOutcome>();
        c.set("queryOutcome", ended.promise);
        setTimeout(() => ended.resolve([{ cache: "miss", degraded_reasons: ["generation_unavailable"] }]), 1);
        return c.body("event: token\ndata: {}\n\n", 200, { "content-type": "text/event-stream" });
      }
      c.set("queryOutcome", [{ cache: "stale", degraded_reasons: ["generation_unavailable", "embedding_fallback"] }]);
      return c.json({ answer: "a" });
    });
    hono.post("/v1/query/batch", (c) => {
      c.set("queryOutcome", [
        { cache: "hit", degraded_reasons: [] },
        { cache: "miss", degraded_reasons: ["embedding_unavailable"] },
      ]);
      return c.json({ results: [] });
    });
    hono.get("/healthz", (c) => c.json({ status: "ok" }));
    // The real rate-limit decision over a store that is down: `query` fails open, `ingest` closed.
    hono.use("/limited/*", async (c, next) => {
      c.set("principal", { tenant: "acme", sub: "k1" } as never);
      c.set("config", { RATE_LIMIT_FAIL_OPEN: ["query"] } as never);
      c.set("log", { warn() {} } as never);
      c.set("services", { rateLimiter: { limit: () => Promise.reject(new RateLimitStoreUnavailable(new Error("down"))) } } as never);
      await next();
    });
    hono.get("/limited/:class{query|ingest}", async (c) => {
      await decide(c, c.req.param("class") as "query" | "ingest", "acme:k1");
      return c.json({ ok: true });
    });
    hono.onError((_error, c) => c.json({ title: "unavailable" }, 503));
    const env = { ANALYTICS: { writeDataPoint: (point: Point) => points.push(point) } };
    const ctx = { waitUntil: (p: Promise<unknown>) => pending.push(p), passThroughOnException() {}, props: {} };
    const request = async (path: string, init: RequestInit = {}) => {
      const response = await hono.request(path, init, env, ctx as never);
      await response.text();
      await Promise.all(pending);
      return points.at(-1)!;
    };
    return { request, points };
  }

  const field = (point: Point, name: (typeof ANALYTICS_DATA_POINT.blobs)[number]) => point.blobs[ANALYTICS_DATA_POINT.blobs.indexOf(name)];
  const double = (point: Point, name: (typeof ANALYTICS_DATA_POINT.doubles)[number]) =>
    point.doubles[ANALYTICS_DATA_POINT.doubles.indexOf(name)];

  it("happy: a query's cache status and degraded reasons, in the documented columns", async () => {
    const point = await app().request("/v1/query", { method: "POST", headers: { "x-tenant": "acme" } });
    expect(point.indexes).toEqual(["acme"]);
    expect(point.blobs).toHaveLength(ANALYTICS_DATA_POINT.blobs.length);
    expect(point.doubles).toHaveLength(ANALYTICS_DATA_POINT.doubles.length);
    expect(point.blobs.slice(0, 3)).toEqual(["POST", "/v1/query", "200"]);
    expect(field(point, "cache_status")).toBe("stale");
    expect(field(point, "degraded_reasons")).toBe("embedding_fallback,generation_unavailable");
    expect(double(point, "degraded")).toBe(1);
    expect(double(point, "status_code")).toBe(200);
    expect(double(point, "latency_ms")).toBeGreaterThanOrEqual(0);
  });

  it("happy: a stream is recorded from its done event; a batch as the union of its entries", async () => {
    const { request } = app();
    const stream = await request("/v1/query", { method: "POST", headers: { accept: "text/event-stream" } });
    expect([field(stream, "cache_status"), field(stream, "degraded_reasons")]).toEqual(["miss", "generation_unavailable"]);
    const batch = await request("/v1/query/batch", { method: "POST" });
    expect([field(batch, "cache_status"), field(batch, "degraded_reasons"), double(batch, "degraded")]).toEqual([
      "miss",
      "embedding_unavailable",
      1,
    ]);
  });

  it("happy: other routes leave the query columns empty; a rate-limiter store outage is recorded", async () => {
    const { request, points } = app();
    const health = await request("/healthz", { headers: { "x-store": "fail-open" } });
    expect(health.indexes).toEqual(["anonymous"]);
    expect([field(health, "cache_status"), field(health, "degraded_reasons"), field(health, "rate_limit_store")]).toEqual([
      "",
      "",
      "fail-open",
    ]);
    expect(double(health, "degraded")).toBe(0);
    expect(field(health, "route")).toBe("/healthz");
    expect(points).toHaveLength(1);
  });

  it("happy: the rate limiter's store outage reaches the data point (fail-open passes, fail-closed is a 503)", async () => {
    const { request } = app();
    const open = await request("/limited/query");
    expect([field(open, "status"), field(open, "rate_limit_store")]).toEqual(["200", "fail-open"]);
    const closed = await request("/limited/ingest");
    expect([field(closed, "status"), field(closed, "rate_limit_store")]).toEqual(["503", "fail-closed"]);
  });
});
