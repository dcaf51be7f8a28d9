import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import type { AppEnv, Services } from "./app-env.ts";
import { AppError, clientClosed, toAppError } from "./errors.ts";
import { errorFields } from "./logger.ts";
import { requireWorkerToken, UnauthorizedError } from "./middleware/auth.ts";
import { httpMetrics, routeLabel } from "./middleware/http-metrics.ts";
import { chunkRoutes } from "./routes/chunk.ts";
import { condenseRoutes } from "./routes/condense.ts";
import { embedRoutes } from "./routes/embed.ts";
import { generateRoutes } from "./routes/generate.ts";
import { healthRoutes, readinessRoutes } from "./routes/health.ts";
import { parseRoutes } from "./routes/parse.ts";
import { rerankRoutes } from "./routes/rerank.ts";

/** Renders an AppError as application/problem+json, keeping the headers already set (x-request-id). */
export function problemResponse(c: Context<AppEnv>, error: AppError) {
  if (error instanceof UnauthorizedError) c.header("WWW-Authenticate", error.challenge);
  if (error.retryAfterSeconds !== undefined) c.header("Retry-After", String(error.retryAfterSeconds));
  // Rejected before its body was read (401, 413): the unread rest makes the connection unusable.
  const hasBody = c.req.header("content-length") !== undefined || c.req.header("transfer-encoding") !== undefined;
  if ((error.status === 401 || error.status === 413) && hasBody) c.header("connection", "close");
  return c.body(JSON.stringify(error.toProblem(c.get("requestId"))), error.status as 400, {
    "content-type": "application/problem+json",
  });
}

/**
 * The origin's HTTP app. A request flows: request id → metrics → (probes | worker token → body limit
 * (MAX_BODY_BYTES; PARSE_MAX_BYTES for /v1/parse) → route) → problem rendering for anything thrown.
 */
export function createApp(services: Services) {
  const app = new Hono<AppEnv>();

  app.use(requestId({ limitLength: 128 }));
  app.use(async (c, next) => {
    c.set("services", services);
    await next();
  });
  app.use(httpMetrics());

  app.route("/", healthRoutes);

  // A file to parse is bigger than any JSON call: /v1/parse has a limit of its own.
  const limitTo = (maxSize: number) =>
    bodyLimit({ maxSize, onError: (c) => problemResponse(c, new AppError("PAYLOAD_TOO_LARGE", `The body exceeds ${maxSize} bytes.`)) });
  const jsonLimit = limitTo(services.config.MAX_BODY_BYTES);
  const fileLimit = limitTo(services.config.PARSE_MAX_BYTES);
  app.use("/v1/*", requireWorkerToken(services.config.ORIGIN_JWT_SECRET, services.logger), (c, next) =>
    c.req.path === "/v1/parse" ? fileLimit(c, next) : jsonLimit(c, next),
  );
  app.route("/", embedRoutes);
  app.route("/", chunkRoutes);
  app.route("/", generateRoutes);
  app.route("/", condenseRoutes);
  app.route("/", rerankRoutes);
  app.route("/", parseRoutes);
  app.route("/", readinessRoutes);

  app.notFound((c) => problemResponse(c, new AppError("NOT_FOUND", `No route for ${c.req.method} ${c.req.path}.`)));

  app.onError((err, c) => {
    // Whatever a client's own disconnect made fail (often a bare abort reason) is CLIENT_CLOSED (499).
    const error = !(err instanceof AppError) && c.req.raw.signal.aborted ? clientClosed(err) : toAppError(err);
    const requestIdValue = c.get("requestId");
    if (error.code === "CLIENT_CLOSED") {
      services.metrics.clientClosed.inc({ route: routeLabel(c) });
      services.logger.debug("client closed the connection", { request_id: requestIdValue, path: c.req.path });
    } else if (error.code.startsWith("UPSTREAM_")) {
      const backend = /^\/v1\/(generate|condense)/.test(c.req.path)
        ? "generation"
        : c.req.path.startsWith("/v1/rerank")
          ? "reranker"
          : "embeddings";
      services.metrics.backendErrors.inc({ backend, code: error.code });
      services.logger.warn("backend failure", { request_id: requestIdValue, backend, ...errorFields(error) });
    } else if (error.code === "OVERLOADED") {
      // Counted by origin_embed_shed_total; one line per refused call would flood the log when it matters.
      services.logger.debug("shed load", { request_id: requestIdValue, path: c.req.path });
    } else if (error.status >= 500) {
      services.logger.error("request failed", { request_id: requestIdValue, path: c.req.path, ...errorFields(error) });
    }
    return problemResponse(c, error);
  });

  return app;
}
