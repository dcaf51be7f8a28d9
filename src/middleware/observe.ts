import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { AppEnv, QueryOutcome } from "../app-env";
import { metrics } from "../metrics";

/**
 * Counts every request by route and status (per-isolate Prometheus metrics) and, where the
 * ANALYTICS binding exists (staging, production), writes one Analytics Engine data point per
 * request for the global view: the edge dashboard and alerts (container/grafana/edge-*) query these
 * columns through the SQL API, and a test checks that they name only columns of this schema.
 *
 * Query routes' data points also carry the answers' cache status and degraded reasons, which the
 * route hands over in the request context (`queryOutcome`: its answers' metadata, a batch's entries;
 * for a stream, a promise settled when the stream ends, awaited inside waitUntil, so a stream is
 * recorded when it ends). Latency is time to response headers.
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
  const write = (outcome: QueryOutcome = []) => {
    if (outcome.length > 0) {
      const degraded = outcome.flatMap((metadata) => metadata.degraded_reasons);
      observation.blobs.cache_status = cacheStatusOf(outcome);
      observation.blobs.degraded_reasons = [...new Set(degraded)].sort().join(",");
      observation.doubles.degraded = degraded.length > 0 ? 1 : 0;
    }
    analytics.writeDataPoint(dataPointOf(observation));
  };
  const outcome = c.var.queryOutcome;
  if (!outcome || Array.isArray(outcome)) return write(outcome as QueryOutcome | undefined);
  c.executionCtx.waitUntil((outcome as Promise<QueryOutcome>).then(write, () => write()));
});

/** One status for the answers: theirs when they agree, else hit when the cache served them all, else miss. */
function cacheStatusOf(outcome: QueryOutcome): string {
  const statuses = outcome.map((metadata) => metadata.cache);
  if (statuses.every((status) => status === statuses[0])) return statuses[0]!;
  return statuses.every((status) => status === "hit" || status === "stale") ? "hit" : "miss";
}
