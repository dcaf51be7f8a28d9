import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../app-env.ts";

/**
 * Counts and times every request by method, route pattern and status. Unmatched paths share one
 * label so that scanners cannot blow up the metric's cardinality. Streams are timed to their headers;
 * generation has its own time-to-first-token histogram.
 */
export function httpMetrics(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { metrics } = c.get("services");
    const started = performance.now();
    metrics.httpInFlight.inc();
    try {
      await next();
    } finally {
      metrics.httpInFlight.dec();
      const last = routePath(c, -1);
      const matched = last && !last.includes("*") ? last : "unmatched";
      const labels = { method: c.req.method, route: matched, status: String(c.res.status) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}
