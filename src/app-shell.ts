import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./app-env";
import { isOpenAIPath, openAIErrorResponse } from "./chat/openai-format";
import { ConfigError, loadConfig } from "./config";
import {
  ApiError,
  fieldErrors,
  internalError,
  notFound,
  payloadTooLarge,
  problemResponse,
  unsupportedMediaType,
  validationFailed,
} from "./errors";
import { FILE_LIMITS } from "./ingest/document-input";
import { errorFields, type Logger, log } from "./logger";
import { jsonDepthLimit } from "./middleware/json-depth";
import { observe } from "./middleware/observe";
import { consoleRoutes } from "./routes/console";
import { docsRoutes } from "./routes/docs";
import { createHealthRoutes } from "./routes/health";
import type { ServicesFactory } from "./services";

const QUERY_BODY_LIMIT = 64 * 1024;
/**
 * The headers of OpenAI's JS SDK (openai 7.x: client.mjs buildHeaders, internal/detect-platform.mjs).
 * Hono's allowHeaders is a list (no pattern, no function), so they are named one by one; the
 * polling helpers' x-stainless-poll-* go to routes edge-rag does not have.
 */
const OPENAI_SDK_HEADERS = [
  "x-stainless-arch",
  "x-stainless-lang",
  "x-stainless-os",
  "x-stainless-package-version",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-retry-count",
  "x-stainless-timeout",
  "x-stainless-helper-method",
  "openai-organization",
  "openai-project",
];
const DOCUMENTS_BODY_LIMIT = 10 * 1024 * 1024;

/**
 * The worker's HTTP API without its resource routes: the middleware every request meets (top to
 * bottom in that order), liveness and readiness, the static pages, the services, the body limits and
 * the one problem+json renderer, with `routeGroups` mounted after them. app.ts mounts every group on
 * it (the whole API); worker.ts also mounts the query routes alone on a second one, so that a cold
 * isolate answers them without loading the other groups (see worker.ts).
 */
export function createAppShell(services: ServicesFactory, routeGroups: readonly Hono<AppEnv>[]) {
  const app = new OpenAPIHono<AppEnv>({
    // Every schema failure becomes one 400 problem listing each offending field.
    defaultHook: (result) => {
      if (!result.success) throw validationFailed(fieldErrors(result.error.issues));
    },
  });

  app.use(requestId({ limitLength: 128 }));
  app.use(async (c, next) => {
    c.set("log", log.with({ request_id: c.var.requestId }));
    await next();
  });
  app.use(observe);
  app.use(
    cors({
      // An explicit allow-list; an unlisted origin simply gets no CORS headers.
      origin: (origin, c) => (allowedOrigins(c.env).includes(origin) ? origin : null),
      allowHeaders: [
        ...["authorization", "content-type", "x-api-key", "x-request-id", "accept"],
        // What a browser MCP client sends on every request after initialize.
        "mcp-protocol-version",
        // What OpenAI's JS SDK sends from a browser (dangerouslyAllowBrowser), on every request or
        // when set: without them in the preflight, /v1/chat/completions is unreachable from one.
        ...OPENAI_SDK_HEADERS,
      ],
      allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
      exposeHeaders: ["x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after", "cache-status"],
      credentials: true,
      maxAge: 600,
    }),
  );

  // Tokens, tenant data and probe results are never stored by a shared cache: it exempts requests
  // with Authorization (RFC 9111 §3.5), not with X-API-Key. A route's own Cache-Control stands.
  const noStoreByDefault: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    if (!c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
  };
  for (const path of ["/v1/*", "/health", "/ready"]) app.use(path, noStoreByDefault);

  // Liveness first: it must answer even when configuration or dependencies are broken.
  app.route("/", createHealthRoutes(services));
  // Static pages (the console, the API docs) need no configuration or services either.
  app.route("/", consoleRoutes);
  app.route("/", docsRoutes);

  // Everything below has valid configuration and its services (built once per isolate).
  app.use(async (c, next) => {
    const built = services(c.env);
    c.set("services", built);
    c.set("config", built.config);
    await next();
  });
  app.use(
    "/v1/documents",
    bodyLimit({
      maxSize: DOCUMENTS_BODY_LIMIT,
      onError: () => {
        throw payloadTooLarge(DOCUMENTS_BODY_LIMIT);
      },
    }),
  );
  app.use(
    "/v1/documents/files",
    bodyLimit({
      maxSize: FILE_LIMITS.maxRequestBytes,
      onError: () => {
        throw payloadTooLarge(FILE_LIMITS.maxRequestBytes);
      },
    }),
  );
  app.use("/v1/*", async (c, next) => {
    if (c.req.path === "/v1/documents" || c.req.path === "/v1/documents/files") return next();
    return bodyLimit({
      maxSize: QUERY_BODY_LIMIT,
      onError: () => {
        throw payloadTooLarge(QUERY_BODY_LIMIT);
      },
    })(c, next);
  });

  // After the size limits: the scan reads (at most) a body they allowed.
  app.use("/v1/*", jsonDepthLimit);

  for (const group of routeGroups) app.route("/", group);

  // The OpenAI-compatible routes answer errors in OpenAI's shape (what its SDKs read), every other one in problem+json.
  const render = (path: string) => (isOpenAIPath(path) ? openAIErrorResponse : problemResponse);
  app.notFound((c) => render(c.req.path)(notFound(`${c.req.method} ${c.req.path}`), c.var.requestId));
  app.onError((error, c) => {
    const requestId = c.var.requestId ?? crypto.randomUUID();
    return render(c.req.path)(toApiError(error, c.var.log ?? log), requestId);
  });
  return app;
}

function allowedOrigins(env: object): string[] {
  try {
    return loadConfig(env).CORS_ALLOWED_ORIGINS;
  } catch {
    return [];
  }
}

/** The one place where anything thrown becomes the problem a client sees (and a log line, for 5xx). */
function toApiError(error: unknown, logger: Logger): ApiError {
  if (error instanceof ApiError) {
    if (error.status >= 500) logger.error("request failed", errorFields(error));
    return error;
  }
  if (error instanceof HTTPException && error.status < 500) {
    // Hono's own 4xx (e.g. malformed JSON from the validator, 415 without a JSON content type).
    if (error.status === 415) return unsupportedMediaType();
    const code = error.status === 400 ? "MALFORMED_REQUEST" : "REQUEST_REJECTED";
    return new ApiError(code, error.message || "the request could not be read", { status: error.status });
  }
  if (error instanceof ConfigError) {
    logger.error("configuration invalid", { issues: error.issues });
    return new ApiError("CONFIG_INVALID", "the service is misconfigured; its operators have been told");
  }
  logger.error("unhandled error", errorFields(error));
  return internalError();
}
