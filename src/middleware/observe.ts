import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { AppEnv } from "../app-env";
import { incrementCounter, observeHistogram } from "../metrics";

/**
 * Counts every request by route and status (per-isolate Prometheus metrics) and, where the
 * ANALYTICS binding exists (production), writes one Analytics Engine data point for the global view.
 */
export const observe = createMiddleware<AppEnv>(async (c, next) => {
  const started = performance.now();
  await next();
  const route = routePath(c) || "unmatched";
  const status = String(c.res.status);
  const elapsed = performance.now() - started;
  incrementCounter("edge_rag_http_requests_total", "HTTP requests by method, route and status.", { method: c.req.method, route, status });
  observeHistogram("edge_rag_http_request_duration_ms", "Time to response headers, by route.", { route }, elapsed);
  c.env.ANALYTICS?.writeDataPoint({
    indexes: [c.var.principal?.tenant ?? "anonymous"],
    blobs: [c.req.method, route, status, c.req.raw.cf?.colo as string ?? ""],
    doubles: [elapsed, c.res.status],
  });
});
