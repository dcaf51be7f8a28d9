import type { Bindings } from "./app-env";
import { createApp } from "./app";
import { handleDeadLetterBatch, handleIngestBatch, isDeadLetterQueue } from "./ingest/consumer";
import { sweep } from "./ingest/sweeper";

/** The worker: the HTTP API, and the ingestion queue's consumer. */
const app = createApp();

export default {
  fetch: app.fetch,
  // Both ingestion queues land here; the dead-letter one only marks documents failed.
  async queue(batch, env) {
    if (isDeadLetterQueue(batch.queue)) await handleDeadLetterBatch(batch, env);
    else await handleIngestBatch(batch, env);
  },
  // The cron of wrangler.toml: re-enqueue jobs whose enqueue failed, delete vectors left behind.
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweep(env));
  },
} satisfies ExportedHandler<Bindings>;

export { LocalVectorIndex } from "./vector/local-vector-index";
