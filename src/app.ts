import { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./app-env";
import { ConfigError, loadConfig } from "./config";
import { ApiError, fieldErrors, internalError, notFound, payloadTooLarge, problemResponse, serviceUnavailable, unsupportedMediaType, validationFailed } from "./errors";
import { observe } from "./middleware/observe";
import { requestContext } from "./middleware/request-context";
import { apiKeyRoutes } from "./routes/api-keys";
import { authRoutes } from "./routes/auth";
import { documentRoutes } from "./routes/documents";
import { healthRoutes } from "./routes/health";
import { jobRoutes } from "./routes/jobs";
import { meRoutes } from "./routes/me";
import { metricsRoutes } from "./routes/metrics";
import { queryRoutes } from "./routes/query";
import { searchRoutes } from "./routes/search";
import { statsRoutes } from "./routes/stats";
import { VERSION } from "./version";

const QUERY_BODY_LIMIT = 64 * 1024;
const DOCUMENTS_BODY_LIMIT = 10 * 1024 * 1024;

/** Builds the worker's HTTP API. Middleware runs top to bottom in the order a request meets it. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    // Every schema failure becomes one 400 problem listing each offending field.
    defaultHook: (result) => {
      if (!result.success) throw validationFailed(fieldErrors(result.error.issues));
    },
  });

  app.use(requestId({ limitLength: 128 }));
  app.use(observe);
  app.use(
    cors({
      // An explicit allow-list; an unlisted origin simply gets no CORS headers.
      origin: (origin, c) => (allowedOrigins(c.env).includes(origin) ? origin : null),
      allowHeaders: ["authorization", "content-type", "x-api-key", "x-request-id", "accept"],
      allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
      exposeHeaders: ["x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"],
      credentials: true,
      maxAge: 600,
    }),
  );

  // Liveness first: it must answer even when configuration or dependencies are broken.
  app.route("/", healthRoutes);

  app.use(requestContext);
  app.use("/v1/documents", bodyLimit({ maxSize: DOCUMENTS_BODY_LIMIT, onError: () => { throw payloadTooLarge(DOCUMENTS_BODY_LIMIT); } }));
  app.use("/v1/*", async (c, next) => {
    if (c.req.path === "/v1/documents") return next();
    return bodyLimit({ maxSize: QUERY_BODY_LIMIT, onError: () => { throw payloadTooLarge(QUERY_BODY_LIMIT); } })(c, next);
  });

  app.route("/", authRoutes);
  app.route("/", meRoutes);
  app.route("/", apiKeyRoutes);
  app.route("/", queryRoutes);
  app.route("/", searchRoutes);
  app.route("/", documentRoutes);
  app.route("/", jobRoutes);
  app.route("/", statsRoutes);
  app.route("/", metricsRoutes);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "edge-rag", version: VERSION, description: "Retrieval-augmented generation over your documents, from the edge." },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", { type: "apiKey", in: "header", name: "X-API-Key" });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));

  app.notFound((c) => problemResponse(notFound(`${c.req.method} ${c.req.path}`), c.var.requestId));
  app.onError((error, c) => problemResponse(toApiError(error, c.var.requestId), c.var.requestId ?? crypto.randomUUID()));
  return app;
}

function allowedOrigins(env: object): string[] {
  try {
    return loadConfig(env).CORS_ALLOWED_ORIGINS;
  } catch {
    return [];
  }
}

function toApiError(error: unknown, requestId: string): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    // Hono's own 4xx (e.g. malformed JSON from the validator, 415 without a JSON content type).
    if (error.status === 415) return unsupportedMediaType();
    if (error.status < 500) return new ApiError(error.status, error.status === 400 ? "MALFORMED_REQUEST" : "REQUEST_REJECTED", "Bad request", error.message || "the request could not be read");
  }
  // D1 outages surface as errors whose message starts with D1_ (D1_ERROR, D1_EXEC_ERROR, …).
  if (error instanceof Error && error.message.startsWith("D1_")) {
    console.error(JSON.stringify({ msg: "D1 unavailable", error: error.message.slice(0, 200), request_id: requestId }));
    return serviceUnavailable("STORE_UNAVAILABLE", "the document store is unavailable; retry shortly", 5);
  }
  if (error instanceof ConfigError) {
    console.error(JSON.stringify({ msg: "configuration invalid", issues: error.issues, request_id: requestId }));
    return new ApiError(500, "CONFIG_INVALID", "Service misconfigured", "the service is misconfigured; its operators have been told");
  }
  console.error(JSON.stringify({ msg: "unhandled error", name: error instanceof Error ? error.name : typeof error, message: error instanceof Error ? error.message : String(error), request_id: requestId }));
  return internalError();
}
