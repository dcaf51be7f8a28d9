import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { AppEnv } from "../app-env";
import { metrics } from "../metrics";

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
  metrics.httpRequests.inc({ method: c.req.method, route, status });
  metrics.httpDuration.observe({ route }, elapsed);
  c.env.ANALYTICS?.writeDataPoint({
    indexes: [c.var.principal?.tenant ?? "anonymous"],
    blobs: [c.req.method, route, status, (c.req.raw.cf?.colo as string) ?? ""],
    doubles: [elapsed, c.res.status],
  });
});
