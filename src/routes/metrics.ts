import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { digestsEqual, sha256Hex } from "../auth/api-keys";
import { renderMetrics } from "../metrics";
import { authenticate } from "../middleware/authenticate";
import { authErrors, security } from "../schemas";

export const metricsRoutes = new OpenAPIHono<AppEnv>();

const metrics = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics of the isolate that answers (admin, or the scrape token)",
  security: [...security, { scrapeToken: [] }],
  responses: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } }, ...authErrors },
});

metricsRoutes.use("/metrics", async (c, next) => {
  // Scrapers present METRICS_SCRAPE_TOKEN as a bearer token; anyone else must be an admin.
  const token = c.var.config.METRICS_SCRAPE_TOKEN;
  const presented = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
  if (token && presented && digestsEqual(await sha256Hex(presented), await sha256Hex(token))) return next();
  return authenticate({ role: "admin" })(c, next);
});

metricsRoutes.openapi(metrics, (c) =>
  c.text(renderMetrics(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" }),
);
