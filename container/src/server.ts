/**
 * Entry point: validate the configuration, load the backends, serve, and drain on SIGTERM/SIGINT.
 * Prints one plain line `origin listening on http://HOST:PORT` once it serves (the local launcher
 * waits for it); everything else is JSON log lines.
 */
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import type { Services } from "./app-env.ts";
import { ConfigError, type Config, parseConfig } from "./config.ts";
import { createMicroBatcher } from "./embeddings/micro-batcher.ts";
import { createOpenAIEmbeddings } from "./embeddings/openai-backend.ts";
import type { EmbeddingBackend } from "./embeddings/port.ts";
import { createUseBackend } from "./embeddings/use-backend.ts";
import { createExtractiveGenerator } from "./generation/extractive.ts";
import { createLLMGenerator } from "./generation/llm-generator.ts";
import type { AnswerGenerator } from "./generation/port.ts";
import { createLogger, errorFields } from "./logger.ts";
import { createMetrics } from "./metrics.ts";

/** Longest a shutdown waits for in-flight requests before it exits anyway (k8s grace period is 30 s). */
const DRAIN_TIMEOUT_MS = 25_000;

let config: Config;
try {
  config = parseConfig();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
const metrics = createMetrics();

async function createEmbeddings(): Promise<EmbeddingBackend> {
  if (config.EMBEDDINGS_BACKEND === "use") return createUseBackend({ workers: config.EMBED_WORKERS });
  return createOpenAIEmbeddings({
    url: config.EMBEDDINGS_URL!,
    model: config.EMBEDDINGS_MODEL!,
    apiKey: config.EMBEDDINGS_API_KEY,
    dimensions: config.EMBEDDINGS_DIMENSIONS,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
  });
}

function createGenerator(): AnswerGenerator {
  if (config.GENERATION_BACKEND === "extractive") return createExtractiveGenerator();
  return createLLMGenerator({
    url: config.GENERATION_URL!,
    model: config.GENERATION_MODEL!,
    apiKey: config.GENERATION_API_KEY,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    contextWindow: config.GENERATION_CONTEXT_WINDOW,
  });
}

const loadStarted = performance.now();
const embeddings = await createEmbeddings();
logger.info("embeddings backend ready", {
  backend: embeddings.name,
  model: embeddings.model,
  ms: Math.round(performance.now() - loadStarted),
});

let draining = false;
const services: Services = {
  config,
  logger,
  metrics,
  embeddings,
  generator: createGenerator(),
  batcher: createMicroBatcher({
    maxBatch: config.EMBED_MAX_BATCH,
    maxWaitMs: config.EMBED_MAX_WAIT_MS,
    // One batch per USE worker thread; a remote GPU server batches concurrent calls itself.
    maxInFlight: embeddings.name === "use" ? config.EMBED_WORKERS : 8,
    run: async (texts, kind) => {
      const end = metrics.embedBackendDuration.startTimer();
      try {
        return await embeddings.embed(texts, kind);
      } finally {
        end();
      }
    },
    onDispatch: (size, waits) => {
      metrics.embedBatchSize.observe(size);
      for (const w of waits) metrics.embedQueueWait.observe(w);
    },
  }),
  draining: () => draining,
};

const app = createApp(services);
const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
  const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
  process.stdout.write(`origin listening on http://${host}:${info.port}\n`);
});
server.on("error", (err) => {
  logger.error("server error", errorFields(err));
  process.exit(1);
});

function shutdown(signal: string) {
  if (draining) return;
  draining = true;
  logger.info("shutting down: draining in-flight requests", { signal });
  const force = setTimeout(() => {
    logger.warn("drain timeout: exiting with requests still in flight");
    process.exit(1);
  }, DRAIN_TIMEOUT_MS);
  force.unref();
  // close() stops accepting, lets in-flight requests finish, and drops idle keep-alive sockets.
  server.close(async () => {
    await embeddings.close().catch(() => {});
    logger.info("stopped");
    process.exit(0);
  });
  if ("closeIdleConnections" in server) server.closeIdleConnections();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// Nothing may crash the process: a stray rejection is logged, not fatal.
process.on("unhandledRejection", (err) => logger.error("unhandled rejection", errorFields(err)));
