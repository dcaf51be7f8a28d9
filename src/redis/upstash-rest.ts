/**
 * A small client for Upstash Redis' REST API (https://upstash.com/docs/redis/features/restapi):
 * a command is a JSON array POSTed to the database URL with `Authorization: Bearer <token>`, and
 * the answer is `{"result": …}`, or 400 `{"error": "<Redis error>"}`; `POST /pipeline` sends many
 * commands in one request and answers one `{result}` / `{error}` per command (not atomic). Only
 * the commands the worker sends have helpers; it replaces @upstash/redis, whose class carries the
 * whole command set into the bundle.
 *
 * Promise: every call is one `fetch` (two for `evalScript` when Redis has not cached the script
 * yet), answered or failed within `timeoutMs` — the timeout covers the retry and backoff too.
 * Values go over the wire as JSON strings (no `Upstash-Encoding: base64`): what we store is text.
 * Failure modes, all an UpstashError (`kind` says which): Redis refused the command ("command",
 * with Redis' error code, e.g. NOSCRIPT or WRONGTYPE); Upstash answered another status or a body
 * that is not its JSON ("http": wrong token, rate limit, outage); the request never completed
 * ("network"; retried `retries` times after `backoffMs`, like @upstash/redis, only then — a
 * command Upstash refused was not run, so retrying it would fail again); the deadline passed
 * ("timeout"). No error ever carries the token, the URL's credentials or a command's arguments
 * (keys hold tenant ids and client IPs).
 * Latency: one HTTPS round trip to the database's region (a few ms in-region).
 */

export type RedisArg = string | number;
export type RedisCommand = readonly [name: string, ...args: RedisArg[]];

/** A Lua script and the SHA1 of its exact text, which EVALSHA sends instead of the text. */
export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

export interface UpstashRestOptions {
  url: string;
  token: string;
  /** Deadline of one call, retry and backoff included. */
  timeoutMs: number;
  /** Retries after a network failure (0 or 1 is sensible: the caller is waiting). */
  retries?: number;
  backoffMs?: number;
}

export interface UpstashRest {
  /** One command; its `result`. */
  command(command: RedisCommand): Promise<unknown>;
  /** Many commands in one request; their results in order. Throws the first command's error, if any failed (the others ran). */
  pipeline(commands: readonly RedisCommand[]): Promise<unknown[]>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { ex: number }): Promise<unknown>;
  /** The hash's fields; empty when the key does not exist. */
  hgetall(key: string): Promise<Record<string, string>>;
  /** EVALSHA of the script's hash; EVAL of its text when Redis answers NOSCRIPT (not cached yet, or flushed). */
  evalScript(script: LuaScript, keys: readonly string[], args: readonly RedisArg[]): Promise<unknown>;
}

export type UpstashErrorKind = "command" | "http" | "network" | "timeout";

export class UpstashError extends Error {
  constructor(
    readonly kind: UpstashErrorKind,
    message: string,
    /** The HTTP status, when Upstash answered. */
    readonly status?: number,
    /** Redis' error code for a refused command: the first word of its error (ERR, NOSCRIPT, WRONGTYPE…). */
    readonly redisCode?: string,
  ) {
    super(message);
    this.name = "UpstashError";
  }
}

export function createUpstashRest(options: UpstashRestOptions): UpstashRest {
  const base = options.url.replace(/\/+$/, "");
  const { token, timeoutMs, retries = 0, backoffMs = 50 } = options;
  const { username, password } = new URL(base);
  // Runtime errors (a refused connection, a malformed URL) may quote the URL; ours never do.
  const secrets = [token, username, password].filter((secret) => secret.length > 0);
  const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join("[redacted]"), text).slice(0, 200);

  async function post(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(base + path, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
          signal,
        });
        const text = await response.text();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new UpstashError("http", `Upstash answered ${response.status} with a body that is not JSON`, response.status);
        }
        if (response.ok) return json;
        const error = (json as { error?: unknown } | null)?.error;
        if (response.status === 400 && typeof error === "string") throw commandError(error);
        throw new UpstashError(
          "http",
          `Upstash answered ${response.status}${typeof error === "string" ? `: ${scrub(error)}` : ""}`,
          response.status,
        );
      } catch (error) {
        if (error instanceof UpstashError) throw error;
        if (signal.aborted) throw new UpstashError("timeout", `Upstash did not answer within ${timeoutMs} ms`);
        if (attempt >= retries) {
          const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          throw new UpstashError("network", `the request to Upstash failed (${scrub(reason)})`);
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        if (signal.aborted) throw new UpstashError("timeout", `Upstash did not answer within ${timeoutMs} ms`);
      }
    }
  }

  function commandError(error: string): UpstashError {
    return new UpstashError("command", `Redis refused the command: ${scrub(error)}`, 400, /^\S+/.exec(error)?.[0]);
  }

  function resultOf(entry: unknown): unknown {
    if (entry !== null && typeof entry === "object") {
      if ("error" in entry && typeof entry.error === "string") throw commandError(entry.error);
      if ("result" in entry) return entry.result;
    }
    throw new UpstashError("http", "Upstash answered a body that is not a command result", 200);
  }

  const deadline = () => AbortSignal.timeout(timeoutMs);
  const command = async (cmd: RedisCommand, signal = deadline()) => resultOf(await post("", cmd, signal));

  return {
    command: (cmd) => command(cmd),
    async pipeline(commands) {
      if (commands.length === 0) return [];
      const entries = await post("/pipeline", commands, deadline());
      if (!Array.isArray(entries) || entries.length !== commands.length) {
        throw new UpstashError("http", "Upstash answered a pipeline with the wrong number of results", 200);
      }
      return entries.map(resultOf);
    },
    get: async (key) => (await command(["GET", key])) as string | null,
    set: (key, value, { ex }) => command(["SET", key, value, "EX", ex]),
    async hgetall(key) {
      const flat = (await command(["HGETALL", key])) as string[] | null;
      // No prototype: a field may be called anything, `__proto__` included.
      const fields: Record<string, string> = Object.create(null);
      for (let i = 0; flat && i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return fields;
    },
    async evalScript(script, keys, args) {
      const signal = deadline();
      try {
        return await command(["EVALSHA", script.sha1, keys.length, ...keys, ...args], signal);
      } catch (error) {
        if (!(error instanceof UpstashError && error.redisCode === "NOSCRIPT")) throw error;
        return await command(["EVAL", script.source, keys.length, ...keys, ...args], signal);
      }
    },
  };
}
