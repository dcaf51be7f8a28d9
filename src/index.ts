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
  // The cron of wrangler.toml: re-enqueue jobs whose messages never arrived or were lost, delete
  // vectors left behind. Awaited, so a failing sweep shows as a failed cron run.
  async scheduled(_controller, env, _ctx) {
    await sweep(env);
  },
} satisfies ExportedHandler<Bindings>;

export { LocalVectorIndex } from "./vector/local-vector-index";
