import type { Bindings } from "./app-env";
import { createApp } from "./app";

/** The worker: the HTTP API, and the ingestion queue's consumer. */
const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Bindings>;

export { LocalVectorIndex } from "./vector/local-vector-index";
