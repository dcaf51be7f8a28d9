/**
 * Turns an HTTP request into Redis commands, following the Upstash REST API:
 * - `POST /` with a JSON array body: `["SET","k","v"]`
 * - `/set/k/v` (GET or POST): path segments are the command; a POST body is appended as the
 *   last argument (binary-safe), then query parameters as `name value` pairs (`?EX=100`)
 * - `POST /pipeline` and `POST /multi-exec` with a JSON array of command arrays.
 * Anything malformed is a BadRequestError (HTTP 400) with a message safe to return.
 */

/** One Redis argument: text from JSON or the path, bytes from a raw POST body. */
export type CommandArg = string | Buffer;

export interface Command {
  /** Upper-cased command name. */
  name: string;
  args: CommandArg[];
}

export type BridgeRequest = { kind: "single"; command: Command } | { kind: "pipeline" | "multi-exec"; commands: Command[] };

export class BadRequestError extends Error {}

export interface RawRequest {
  /** `req.url` as received: path plus optional query. */
  url: string;
  method: string;
  body: Buffer;
}

/** Query parameters that configure the request instead of becoming arguments. */
const RESERVED_QUERY = new Set(["_token"]);

export function parseBridgeRequest(request: RawRequest): BridgeRequest {
  if (!request.url.startsWith("/")) throw new BadRequestError("ERR request target must be a path");
  // Split by hand: `new URL` would resolve "." / ".." segments, which are valid Redis arguments.
  const queryStart = request.url.indexOf("?");
  const rawPath = queryStart === -1 ? request.url : request.url.slice(0, queryStart);
  const query = new URLSearchParams(queryStart === -1 ? "" : request.url.slice(queryStart + 1));
  const path = rawPath.replace(/^\/+/, "");

  if (path === "pipeline" || path === "multi-exec") {
    const json = parseJsonBody(request.body);
    if (!Array.isArray(json)) throw new BadRequestError(`ERR ${path} body must be a JSON array of commands`);
    if (json.length === 0) throw new BadRequestError(`ERR ${path} body has no commands`);
    return { kind: path, commands: json.map((entry, index) => toCommand(entry, `command ${index + 1}`)) };
  }

  if (path === "") {
    if (request.body.length === 0)
      throw new BadRequestError('ERR empty command: send a JSON array like ["PING"] or use /COMMAND/arg1/arg2');
    return { kind: "single", command: toCommand(parseJsonBody(request.body), "command") };
  }

  const args: CommandArg[] = path.split("/").map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new BadRequestError("ERR malformed percent-encoding in the request path");
    }
  });
  if (request.body.length > 0) args.push(request.body);
  for (const [name, value] of query) {
    if (RESERVED_QUERY.has(name)) continue;
    args.push(name);
    if (value !== "") args.push(value);
  }
  const [name, ...rest] = args as [string, ...CommandArg[]];
  if (name === "") throw new BadRequestError("ERR empty command name");
  return { kind: "single", command: { name: name.toUpperCase(), args: rest } };
}

function parseJsonBody(body: Buffer): unknown {
  try {
    // Integers beyond 2^53 keep their exact digits (the reviver sees the source text).
    return JSON.parse(body.toString("utf8"), (_key, value: unknown, context?: { source?: string }) =>
      typeof value === "number" && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source)
        ? new ExactInteger(context.source)
        : value,
    );
  } catch {
    throw new BadRequestError("ERR request body is not valid JSON");
  }
}

class ExactInteger {
  constructor(readonly digits: string) {}
}

function toCommand(value: unknown, where: string): Command {
  if (!Array.isArray(value)) throw new BadRequestError(`ERR ${where} must be a JSON array like ["SET","key","value"]`);
  if (value.length === 0) throw new BadRequestError(`ERR ${where} is empty`);
  const [name, ...rest] = value as unknown[];
  if (typeof name !== "string" || name === "") throw new BadRequestError(`ERR ${where}: the command name must be a non-empty string`);
  return { name: name.toUpperCase(), args: rest.map((arg, index) => toArg(arg, where, index + 1)) };
}

function toArg(value: unknown, where: string, position: number): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
      return String(value);
    default:
      if (value instanceof ExactInteger) return value.digits;
      throw new BadRequestError(
        `ERR ${where}: argument ${position} is ${value === null ? "null" : Array.isArray(value) ? "an array" : "an object"}; only strings, numbers and booleans are allowed`,
      );
  }
}
