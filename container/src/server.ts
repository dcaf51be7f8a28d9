/**
 * Entry point: validate the configuration, load the backends, serve, and drain on SIGTERM/SIGINT.
 * Prints one plain line `origin listening on http://HOST:PORT` once it serves (the local launcher
 * waits for it); everything else is JSON log lines.
 */
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { type Config, ConfigError, parseConfig } from "./config.ts";
import { createLogger, errorFields } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { createEmbeddings, createServices } from "./services.ts";

/** Longest a shutdown waits for in-flight requests before it exits anyway (k8s grace period is 30 s). */
const DRAIN_TIMEOUT_MS = 25_000;

let config: Config;
try {
  config = parseConfig();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(1);
}

// A closed stdout (a log pipe gone away) must not crash the server.
process.stdout.on("error", () => {});
const logger = createLogger(config.LOG_LEVEL);
const metrics = createMetrics();

const loadStarted = performance.now();
const embeddings = await createEmbeddings(config, metrics);
logger.info("embeddings backend ready", {
  backend: embeddings.name,
  model: embeddings.model,
  ms: Math.round(performance.now() - loadStarted),
});

let draining = false;
const services = createServices({ config, logger, metrics, embeddings, draining: () => draining });
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
