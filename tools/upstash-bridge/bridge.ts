import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createTokenCheck } from "./auth.ts";
import type { CommandAllowList } from "./command-policy.ts";
import { encodeReply } from "./encode-reply.ts";
import { PayloadTooLargeError, readBody } from "./http-body.ts";
import type { ScriptSeen } from "./lua-scripts.ts";
import { BadRequestError, type BridgeRequest, parseBridgeRequest } from "./parse-request.ts";
import { createRedisExecutor, type Outcome, type RedisExecutor, RedisUnavailableError } from "./redis-executor.ts";

export interface UpstashBridgeOptions {
  /** e.g. `redis://127.0.0.1:6379` */
  redisUrl: string;
  /** The bearer token clients must present (UPSTASH_REDIS_REST_TOKEN). */
  token: string;
  /** Largest accepted request body; Upstash's own limit (10 MB) by default. */
  maxBodyBytes?: number;
  /** Where operational lines go (default stderr). Never receives the token, URLs or bodies. */
  log?: (line: string) => void;
  /**
   * The commands it runs: by default only what the project's Upstash clients need
   * (UPSTASH_CLIENT_COMMANDS); `"any"` lifts the allow-list (the protocol tests), never the refusals.
   */
  allowCommands?: CommandAllowList;
  /**
   * Told of every script a client runs or loads, and whether it asked for key locking (Redis
   * rejects that flag, so the bridge drops it before Redis sees it: this is where it is recorded).
   */
  onScript?: (script: ScriptSeen) => void;
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Operational lines go to stderr, prefixed; stdout is kept for the CLI's "listening" line. */
export const defaultLog = (line: string) => void process.stderr.write(`[upstash-bridge] ${line}\n`);

/** Upstash documents these four; anything else is 405. */
const ALLOWED_METHODS = new Set(["GET", "HEAD", "POST", "PUT"]);

type JsonBody = { result: unknown } | { error: string } | Array<{ result: unknown } | { error: string }>;

/**
 * An HTTP server that speaks the Upstash Redis REST protocol in front of a real Redis, so that
 * @upstash/redis and @upstash/ratelimit run unmodified against local redis-server. Closing the
 * server also closes its Redis connection. Until Redis is reachable, commands get 503.
 */
export function createUpstashBridge(options: UpstashBridgeOptions): Server {
  return createBridge(options).server;
}

/** The server plus a way to wait for its Redis connection (used by startUpstashBridge). */
export function createBridge(options: UpstashBridgeOptions): { server: Server; waitForRedis(timeoutMs: number): Promise<boolean> } {
  const isAuthorized = createTokenCheck(options.token);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = options.log ?? defaultLog;
  const executor = createRedisExecutor({
    redisUrl: options.redisUrl,
    log,
    allowCommands: options.allowCommands,
    onScript: options.onScript,
  });
  // Redis echoes arguments in some errors ("unknown command … with args beginning with"); a
  // client that sends the token as data must still never get it back in an error body.
  const redact = (message: string) => message.replaceAll(options.token, "[redacted]");

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // A late socket error must never become an unhandled 'error' event.
    req.on("error", () => {});
    const url = req.url ?? "/";

    if (!isAuthorized(req.headers.authorization)) {
      log(`401 for ${req.method} request without a valid token`);
      return reply(req, res, 401, { error: "Unauthorized" });
    }
    if (!ALLOWED_METHODS.has(req.method ?? "")) {
      return reply(
        req,
        res,
        405,
        { error: `ERR method ${req.method} is not allowed; use GET, HEAD, POST or PUT` },
        { Allow: "GET, HEAD, POST, PUT" },
      );
    }
    const format = req.headers["upstash-response-format"];
    if (format !== undefined && String(format).toLowerCase() !== "json") {
      return reply(req, res, 400, { error: "ERR only the json Upstash-Response-Format is supported by the bridge" });
    }

    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        return reply(req, res, 413, { error: `ERR max request size exceeded (${maxBodyBytes} bytes)` });
      }
      throw error;
    }

    let request: BridgeRequest;
    try {
      request = parseBridgeRequest({ url, method: req.method!, body });
    } catch (error) {
      if (error instanceof BadRequestError) return reply(req, res, 400, { error: error.message });
      throw error;
    }

    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    try {
      const [status, json] = await execute(executor, request, base64, redact);
      return reply(req, res, status, json);
    } catch (error) {
      if (error instanceof RedisUnavailableError) return reply(req, res, 503, { error: error.message });
      throw error;
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`internal error: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) reply(req, res, 500, { error: "ERR internal bridge error" });
      else res.destroy();
    });
  });
  // Slow or stuck clients must not pin sockets forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  server.on("close", () => void executor.close());
  return { server, waitForRedis: (timeoutMs) => executor.waitUntilReady(timeoutMs) };
}

async function execute(
  executor: RedisExecutor,
  request: BridgeRequest,
  base64: boolean,
  redact: (message: string) => string,
): Promise<[number, JsonBody]> {
  const encode = (outcome: Outcome) =>
    "error" in outcome ? { error: redact(outcome.error) } : { result: encodeReply(outcome.result, base64) };
  switch (request.kind) {
    case "single": {
      const outcome = await executor.run(request.command);
      // Upstash answers a failed command with 400, which @upstash/redis turns into an UpstashError.
      return ["error" in outcome ? 400 : 200, encode(outcome)];
    }
    case "pipeline":
      return [200, (await executor.pipeline(request.commands)).map(encode)];
    case "multi-exec": {
      const outcome = await executor.transaction(request.commands);
      return "discarded" in outcome ? [400, { error: redact(outcome.discarded) }] : [200, outcome.map(encode)];
    }
  }
}

function reply(req: IncomingMessage, res: ServerResponse, status: number, body: JsonBody, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  const unread = !req.complete;
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(payload),
    // Answered before the upload finished (401/413): close rather than reuse a half-read stream.
    ...(unread ? { Connection: "close" } : {}),
    ...headers,
  });
  res.end(payload);
  // Discard whatever the client is still sending, without buffering it.
  if (unread) req.resume();
}
