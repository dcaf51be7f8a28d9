/**
 * Entry point: validate the configuration, load the backends, serve, and drain on SIGTERM/SIGINT.
 * Prints one plain line `origin listening on http://HOST:PORT` once it serves (the local launcher
 * waits for it); everything else is JSON log lines.
 */
import { Server as HttpServer } from "node:http";
import type { Socket } from "node:net";
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { type Config, ConfigError, parseConfig } from "./config.ts";
import { createLogger, errorFields } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { createEmbeddings, createServices } from "./services.ts";

/** Longest a shutdown waits for in-flight requests before it exits anyway (k8s grace period is 30 s). */
const DRAIN_TIMEOUT_MS = 25_000;
/**
 * Idle keep-alive sockets live longer than ingress-nginx keeps its pooled upstream connections (60 s),
 * so nginx always closes first: with Node's 5 s default, nginx could reuse a socket Node was closing,
 * get a reset, and (never retrying a POST) hand the worker a 502. Headers may take a little longer still.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const HEADERS_TIMEOUT_MS = 66_000;

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
/** Requests in progress per open socket: the drain closes each socket once it has none. */
const inProgress = new Map<Socket, number>();
// Set in the same turn as serve(): before any connection is accepted.
if (server instanceof HttpServer) {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.on("connection", (socket) => {
    inProgress.set(socket, 0);
    socket.on("close", () => inProgress.delete(socket));
  });
  server.on("request", (req, res) => {
    const socket = req.socket;
    inProgress.set(socket, (inProgress.get(socket) ?? 0) + 1);
    res.on("close", () => {
      if (!inProgress.has(socket)) return;
      const left = inProgress.get(socket)! - 1;
      inProgress.set(socket, left);
      if (draining && left === 0) socket.end();
    });
  });
}
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
  // close() stops accepting and lets in-flight requests finish. Idle keep-alive sockets would hold it
  // open for the keep-alive timeout (65 s, past the drain deadline), so they are closed now, and each
  // busy one as soon as its last response ends. (Node's closeIdleConnections misses some sockets.)
  server.close(async () => {
    await embeddings.close().catch(() => {});
    logger.info("stopped");
    process.exit(0);
  });
  for (const [socket, requests] of inProgress) if (requests === 0) socket.destroy();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// Nothing may crash the process: a stray rejection is logged, not fatal.
process.on("unhandledRejection", (err) => logger.error("unhandled rejection", errorFields(err)));
