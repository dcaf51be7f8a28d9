import type { Context, MiddlewareHandler } from "hono";
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
      const labels = { method: c.req.method, route: routeLabel(c), status: String(c.res.status) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}

/** The matched route pattern, or "unmatched": a label scanners cannot multiply. */
export function routeLabel(c: Context<AppEnv>): string {
  const last = routePath(c, -1);
  return last && !last.includes("*") ? last : "unmatched";
}
