import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { digestsEqual, sha256Hex } from "../auth/api-keys";
import { isOperator } from "../auth/principal";
import { forbidden } from "../errors";
import { renderMetrics } from "../metrics";
import { authenticate } from "../middleware/authenticate";
import { authErrors, security } from "../schemas";

export function createMetricsRoutes() {
  const metricsRoutes = new OpenAPIHono<AppEnv>();

  const metrics = createRoute({
    method: "get",
    path: "/metrics",
    operationId: "getMetrics",
    summary: "Prometheus metrics of the isolate that answers (the scrape token, or an operator: an admin of OPERATOR_TENANT)",
    security: [...security, { scrapeToken: [] }],
    responses: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } }, ...authErrors },
  });

  metricsRoutes.use("/metrics", async (c, next) => {
    // Scrapers present METRICS_SCRAPE_TOKEN as a bearer token. The metrics cover every tenant's
    // traffic, so anyone else must be an operator (an admin of OPERATOR_TENANT), not any tenant's admin.
    const token = c.var.config.METRICS_SCRAPE_TOKEN;
    const presented = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (token && presented && digestsEqual(await sha256Hex(presented), await sha256Hex(token))) return next();
    return authenticate({ role: "admin" })(c, async () => {
      if (!isOperator(c.var.principal, c.var.config.OPERATOR_TENANT)) throw forbidden("metrics are for the service's operators");
      await next();
    });
  });

  metricsRoutes.openapi(metrics, (c) =>
    c.text(renderMetrics(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" }),
  );
  return metricsRoutes;
}
