import { createApp } from "./app";
import { createAppShell } from "./app-shell";
import type { Bindings } from "./bindings";
import { handleDeadLetterBatch, handleIngestBatch, isDeadLetterQueue } from "./ingest/consumer";
import { log } from "./logger";
import { createQueryRoutes } from "./routes/query";
import { createSearchRoutes } from "./routes/search";
import type { ServicesFactory } from "./services";
import { handleWebhookBatch, isWebhookQueue } from "./webhooks/webhook-consumer";

/**
 * The worker's handlers — the HTTP API, the ingestion queues' consumer (which also runs the
 * sweeps the tenants' objects ask for and the bucket sync runs), the webhook queue's, and the cron
 * trigger that enqueues those runs — over one services factory.
 *
 * Cold start: a new isolate builds only what the query path needs. The route groups a query does
 * not use (auth, me, API keys, documents, jobs, stats, cache, metrics, MCP, batch queries, and
 * /openapi.json that describes them) are built by their factories on the first request for any of
 * them: their route definitions and schemas were over a quarter of the zod schemas a cold isolate built
 * (the configuration's, built on its first validation, most of the rest). Factories, not `import()`:
 * esbuild would wrap every module the dynamic import reaches in a lazy initialiser: 151.0 KiB
 * gzip instead of 148.9 for the same saving, over the 150 KiB budget.
 *
 * Eager: /health, /ready, the static pages (/console, /docs), POST /v1/query and /v1/search, served
 * by an app shell with only the query groups mounted. Every other path goes to the whole API
 * (app.ts), built on the first such request. Both are the same shell (middleware, services, body
 * limits, problem renderer) and the same route modules, so a request gets the same handlers, context
 * variables, metrics label (its matched route path) and problem responses from either, and each
 * router is complete when it is built: nothing is added to a router later, no request crosses from
 * one app to the other. test/worker/lazy-routes.test.ts checks that EAGER_PATHS routes nothing the
 * whole API would route differently.
 *
 * Nothing is built at load either: the eager app, its route definitions and their schemas on the
 * first request for one of its paths. Startup CPU (README, issue 24's budget of 40 ms) is then
 * parsing the bundle and the libraries' own top level; the first query pays for its schemas.
 */
export const EAGER_PATHS = /^\/(?:health|ready|v1\/query|v1\/search|(?:console|docs)(?:\/[^/]*)?)$/;
/** The route groups the eager app mounts (the shell brings health, readiness and the static pages). */
export const eagerRouteGroups = () => [createQueryRoutes(), createSearchRoutes()];

export function createWorker(services: ServicesFactory) {
  let eager: ReturnType<typeof createAppShell> | undefined;
  let whole: ReturnType<typeof createApp> | undefined;

  return {
    fetch(request, env, ctx) {
      if (EAGER_PATHS.test(new URL(request.url).pathname)) {
        eager ??= createAppShell(services, eagerRouteGroups());
        return eager.fetch(request, env, ctx);
      }
      whole ??= createApp(services);
      return whole.fetch(request, env, ctx);
    },
    // Both ingestion queues land here (the dead-letter one only marks documents failed), and the webhook queue.
    async queue(batch, env) {
      if (isWebhookQueue(batch.queue)) await handleWebhookBatch(batch, env, services);
      else if (isDeadLetterQueue(batch.queue)) await handleDeadLetterBatch(batch, env, services);
      else await handleIngestBatch(batch, env, services);
    },
    // The cron trigger (wrangler.toml [triggers]): one bucket sync message per tenant with a source.
    // A failure is thrown, so the run shows as failed in the Cron Events; the next trigger enqueues them all again.
    async scheduled(controller, env) {
      const enqueued = await services(env).bucketSync.schedule();
      log.info("bucket sync scheduled", { cron: controller.cron, tenants: enqueued });
    },
  } satisfies ExportedHandler<Bindings>;
}
