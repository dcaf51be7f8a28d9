import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { errorFields } from "../logger";
import { jsonResponse } from "../schemas";
import type { Services, ServicesFactory } from "../services";
import { VERSION } from "../version";

/** The two routes' definitions, built on first use (the first app built), not at module load (worker.ts). */
let built: ReturnType<typeof build> | undefined;
const routeDefinitions = () => (built ??= build());

function build() {
  const health = createRoute({
    method: "get",
    path: "/health",
    operationId: "getHealth",
    security: [],
    summary: "Liveness: answers without touching any dependency",
    responses: { 200: jsonResponse("Alive", z.object({ status: z.literal("ok"), version: z.string(), time: z.string() })) },
  });

  // /ready is public: each check says only whether it passed and how long it took (reasons go to
  // the logs; origin URLs, circuit states and index sizes are not for anonymous callers).
  const CheckSchema = z.object({
    ok: z.boolean(),
    latency_ms: z.number(),
    available: z.number().int().optional(),
    total: z.number().int().optional(),
  });
  const ReadySchema = z.object({ status: z.enum(["ready", "unavailable"]), checks: z.record(z.string(), CheckSchema) });

  const ready = createRoute({
    method: "get",
    path: "/ready",
    operationId: "getReadiness",
    security: [],
    summary: "Readiness: D1, KV, the vector index and the origin(s)",
    responses: { 200: jsonResponse("Ready", ReadySchema), 503: jsonResponse("Not ready", ReadySchema) },
  });
  return { health, ready, ReadySchema };
}

/**
 * The last readiness result per environment (isolate memory, safe to lose), reused for
 * READY_CACHE_SECONDS: anonymous traffic to /ready cannot fan out to D1, KV, the vector index and
 * every origin on each hit.
 */
const lastReadiness = new WeakMap<object, { until: number; status: 200 | 503; body: z.infer<ReturnType<typeof build>["ReadySchema"]> }>();

/** Liveness and readiness. They run before the services middleware: both must answer when configuration is broken. */
export function createHealthRoutes(servicesFor: ServicesFactory) {
  const routes = new OpenAPIHono<AppEnv>();
  const { health, ready } = routeDefinitions();
  routes.openapi(health, (c) => c.json({ status: "ok" as const, version: VERSION, time: new Date().toISOString() }, 200));
  routes.openapi(ready, async (c) => {
    let services: Services;
    try {
      services = servicesFor(c.env);
    } catch (error) {
      c.var.log.error("readiness: services cannot be built", errorFields(error));
      return c.json({ status: "unavailable" as const, checks: { config: { ok: false, latency_ms: 0 } } }, 503);
    }
    const { config } = services;
    const cached = lastReadiness.get(c.env);
    if (cached && cached.until > Date.now()) return c.json(cached.body, cached.status);
    const timed = async (check: () => Promise<unknown>) => {
      const started = performance.now();
      try {
        await check();
        return { ok: true, latency_ms: elapsed(started) };
      } catch (error) {
        c.var.log.warn("readiness check failed", errorFields(error));
        return { ok: false, latency_ms: elapsed(started) };
      }
    };
    const [d1, kv, vectorIndex, origins] = await Promise.all([
      timed(async () => void (await services.db.prepare("SELECT 1").first())),
      timed(async () => void (await c.env.KV.get("edge-rag:ready-probe"))),
      timed(async () => {
        const info = await services.vectors.describe();
        if (info.dimensions !== config.EMBEDDING_DIMENSIONS)
          throw new Error(`index has ${info.dimensions} dimensions, EMBEDDING_DIMENSIONS is ${config.EMBEDDING_DIMENSIONS}`);
      }),
      services.origin.probe(),
    ]);
    for (const origin of origins.filter((o) => !o.ok)) c.var.log.warn("origin not ready", origin);
    const available = origins.filter((origin) => origin.ok).length;
    const originCheck = {
      ok: available > 0,
      latency_ms: Math.max(0, ...origins.map((o) => o.latency_ms)),
      available,
      total: origins.length,
    };
    const checks = { d1, kv, vector_index: vectorIndex, origin: originCheck };
    const isReady = Object.values(checks).every((check) => check.ok);
    const body = { status: isReady ? ("ready" as const) : ("unavailable" as const), checks };
    const status = isReady ? (200 as const) : (503 as const);
    if (config.READY_CACHE_SECONDS > 0) lastReadiness.set(c.env, { until: Date.now() + config.READY_CACHE_SECONDS * 1000, status, body });
    return c.json(body, status);
  });
  return routes;
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;
