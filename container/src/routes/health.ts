import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";

/** Kubelet probes and the Prometheus scrape: no token (see README for why /metrics is open). */
export const healthRoutes = new Hono<AppEnv>()
  // Liveness: the process serves HTTP. Touches no backend, so a slow GPU never restarts the pod.
  .get("/healthz", (c) => c.json({ status: "ok" }))

  // Readiness: not shutting down, and able to serve embeddings or generation. Only both failing
  // takes the pod out: one backend's outage (a vLLM rollout) must not pull every origin pod from
  // the Service, since the other function still serves and the worker degrades per function.
  .get("/readyz", async (c) => {
    const { embeddings, generator, draining, metrics } = c.get("services");
    const [embed, generate] = await Promise.all([embeddings.check(), generator.check()]);
    const checks = {
      embeddings: { ...embed, backend: embeddings.name, model: embeddings.model },
      generation: { ...generate, backend: generator.name, model: generator.model },
      shutdown: { ok: !draining(), detail: draining() ? "draining" : "serving" },
    };
    const ready = checks.shutdown.ok && (checks.embeddings.ok || checks.generation.ok);
    metrics.ready.set(ready ? 1 : 0);
    return c.json({ status: ready ? "ready" : "not_ready", checks }, ready ? 200 : 503);
  })

  .get("/metrics", async (c) => {
    const { registry } = c.get("services").metrics;
    return c.body(await registry.metrics(), 200, { "content-type": registry.contentType });
  });
