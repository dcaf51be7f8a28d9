import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { AppEnv } from "../app-env";
import { metrics } from "../metrics";

/**
 * Counts every request by route and status (per-isolate Prometheus metrics) and, where the
 * ANALYTICS binding exists (staging, production), writes one Analytics Engine data point per
 * request for the global view: the edge dashboard and alerts (container/grafana/edge-*) query these
 * columns through the SQL API, and a test checks that they name only columns of this schema.
 *
 * Query routes' data points also carry the answer's cache status and degraded reasons, read from
 * the response the route already produced (its JSON `metadata`, a batch's entries, or a stream's
 * `done` event) on a copy of the body, after the response, inside waitUntil: no route learns a new
 * protocol and a stream is recorded when it ends. Latency is time to response headers.
 */

/**
 * The data point's layout, in column order: `index1`, `blob1…`, `double1…`. Append only — a
 * column's position is its name in every stored row and every dashboard query.
 */
export const ANALYTICS_DATA_POINT = {
  indexes: ["tenant"],
  blobs: [
    "method",
    "route",
    "status",
    "colo",
    /** hit | stale | miss | bypass on query routes (a batch: hit when every entry was), else "". */
    "cache_status",
    /** The answer's degraded_reasons, sorted and comma-joined (a batch: the union), else "". */
    "degraded_reasons",
    /** fail-open | fail-closed when the rate limiter's store was unreachable, else "". */
    "rate_limit_store",
  ],
  doubles: ["latency_ms", "status_code", "degraded"],
} as const;

type Blob = (typeof ANALYTICS_DATA_POINT.blobs)[number];
type Double = (typeof ANALYTICS_DATA_POINT.doubles)[number];

/** The Analytics Engine column a field is stored in, e.g. `cache_status` → `blob5`. */
export function analyticsColumn(field: Blob | Double | "tenant"): string {
  if (field === "tenant") return "index1";
  const blob = ANALYTICS_DATA_POINT.blobs.indexOf(field as Blob);
  if (blob >= 0) return `blob${blob + 1}`;
  return `double${ANALYTICS_DATA_POINT.doubles.indexOf(field as Double) + 1}`;
}

export interface Observation {
  tenant: string;
  blobs: Record<Blob, string>;
  doubles: Record<Double, number>;
}

/** The data point, its columns in ANALYTICS_DATA_POINT's order. */
export function dataPointOf(observation: Observation): AnalyticsEngineDataPoint {
  return {
    indexes: [observation.tenant],
    blobs: ANALYTICS_DATA_POINT.blobs.map((name) => observation.blobs[name]),
    doubles: ANALYTICS_DATA_POINT.doubles.map((name) => observation.doubles[name]),
  };
}

const QUERY_ROUTES = new Set(["/v1/query", "/v1/query/batch", "/v1/search"]);

interface QueryOutcome {
  cache: string;
  degraded: string[];
}

export const observe = createMiddleware<AppEnv>(async (c, next) => {
  const started = performance.now();
  await next();
  const route = routePath(c) || "unmatched";
  const status = String(c.res.status);
  const elapsed = performance.now() - started;
  metrics.httpRequests.inc({ method: c.req.method, route, status });
  metrics.httpDuration.observe({ route }, elapsed);
  const analytics = c.env.ANALYTICS;
  if (!analytics) return;

  const observation: Observation = {
    tenant: c.var.principal?.tenant ?? "anonymous",
    blobs: {
      method: c.req.method,
      route,
      status,
      colo: (c.req.raw.cf?.colo as string) ?? "",
      cache_status: "",
      degraded_reasons: "",
      rate_limit_store: c.var.rateLimitStore ?? "",
    },
    doubles: { latency_ms: elapsed, status_code: c.res.status, degraded: 0 },
  };
  const write = (outcome?: QueryOutcome) => {
    if (outcome) {
      observation.blobs.cache_status = outcome.cache;
      observation.blobs.degraded_reasons = [...new Set(outcome.degraded)].sort().join(",");
      observation.doubles.degraded = outcome.degraded.length > 0 ? 1 : 0;
    }
    analytics.writeDataPoint(dataPointOf(observation));
  };
  if (!(QUERY_ROUTES.has(route) && c.res.ok && c.res.body)) return write();
  const copy = c.res.clone();
  c.executionCtx.waitUntil(
    queryOutcome(copy).then(write, () => write()), // an unreadable body still counts the request
  );
});

/** The cache status and degraded reasons of a query response: JSON (one answer or a batch) or SSE. */
export async function queryOutcome(response: Response): Promise<QueryOutcome | undefined> {
  const type = response.headers.get("content-type") ?? "";
  const metadatas: Array<{ cache?: string; degraded_reasons?: string[] }> = [];
  if (type.startsWith("text/event-stream")) {
    const text = await response.text();
    const done = /(?:^|\n)event: ?done\ndata: ?(.*)\n/.exec(text);
    if (done) metadatas.push(JSON.parse(done[1]!));
  } else if (type.startsWith("application/json")) {
    const body = (await response.json()) as { metadata?: object; results?: Array<{ metadata?: object }> };
    if (body.metadata) metadatas.push(body.metadata);
    else for (const entry of body.results ?? []) if (entry.metadata) metadatas.push(entry.metadata);
  }
  if (metadatas.length === 0) return undefined;
  const statuses = metadatas.map((m) => m.cache ?? "");
  const cache = statuses.every((s) => s === statuses[0])
    ? statuses[0]!
    : statuses.every((s) => s === "hit" || s === "stale")
      ? "hit"
      : "miss";
  return { cache, degraded: metadatas.flatMap((m) => m.degraded_reasons ?? []) };
}
