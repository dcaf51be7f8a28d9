import { createApp } from "./app";
import type { Bindings } from "./app-env";
import { handleDeadLetterBatch, handleIngestBatch, isDeadLetterQueue } from "./ingest/consumer";
import { sweep } from "./ingest/sweeper";
import type { ServicesFactory } from "./services";

/** The worker's handlers — the HTTP API, the ingestion queues' consumer, the cron sweep — over one services factory. */
export function createWorker(services: ServicesFactory) {
  return {
    fetch: createApp(services).fetch,
    // Both ingestion queues land here; the dead-letter one only marks documents failed.
    async queue(batch, env) {
      if (isDeadLetterQueue(batch.queue)) await handleDeadLetterBatch(batch, env, services);
      else await handleIngestBatch(batch, env, services);
    },
    // The cron of wrangler.toml: re-enqueue jobs whose messages never arrived or were lost, delete
    // vectors left behind. Awaited, so a failing sweep shows as a failed cron run.
    async scheduled(_controller, env, _ctx) {
      await sweep(env, services);
    },
  } satisfies ExportedHandler<Bindings>;
}
