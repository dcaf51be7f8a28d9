import { type Context, Hono } from "hono";
import type { AppEnv } from "../app-env.ts";

/**
 * Readiness: not shutting down, and able to serve embeddings or generation. Only both failing
 * takes the pod out: one backend's outage (a vLLM rollout) must not pull every origin pod from
 * the Service, since the other function still serves and the worker degrades per function.
 */
async function readiness(c: Context<AppEnv>) {
  const { embeddings, generator, draining, metrics } = c.get("services");
  const [embed, generate] = await Promise.all([embeddings.check(), generator.check()]);
  const checks = {
    embeddings: { ...embed, backend: embeddings.name, model: embeddings.model, dimensions: embeddings.dimensions },
    generation: { ...generate, backend: generator.name, model: generator.model },
    shutdown: { ok: !draining(), detail: draining() ? "draining" : "serving" },
  };
  const ready = checks.shutdown.ok && (checks.embeddings.ok || checks.generation.ok);
  metrics.ready.set(ready ? 1 : 0);
  return { ready, status: ready ? ("ready" as const) : ("not_ready" as const), checks };
}

/**
 * The worker's readiness view, behind the worker token (app.ts): which backends and models serve,
 * and why one does not. The deploy preflight (`edge-rag doctor`) reads it the same way.
 */
export const readinessRoutes = new Hono<AppEnv>().get("/v1/readyz", async (c) => {
  const { ready, status, checks } = await readiness(c);
  return c.json({ status, checks }, ready ? 200 : 503);
});

/**
 * Kubelet probes and the Prometheus scrape: no token (see README for why /metrics is open). The
 * open /readyz says only ready or not and which check failed: backend and model names are for the
 * authenticated GET /v1/readyz.
 */
export const healthRoutes = new Hono<AppEnv>()
  // Liveness: the process serves HTTP. Touches no backend, so a slow GPU never restarts the pod.
  .get("/healthz", (c) => c.json({ status: "ok" }))

  .get("/readyz", async (c) => {
    const { ready, status, checks } = await readiness(c);
    const summary = Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, { ok: check.ok }]));
    return c.json({ status, checks: summary }, ready ? 200 : 503);
  })

  .get("/metrics", async (c) => {
    const { registry } = c.get("services").metrics;
    return c.body(await registry.metrics(), 200, { "content-type": registry.contentType });
  });
