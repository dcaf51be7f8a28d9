import { Redis, ReplyError } from "ioredis";
import { type CommandAllowList, refusalReason } from "./command-policy.ts";
import { createScriptRegistry, type ScriptSeen } from "./lua-scripts.ts";
import type { Command } from "./parse-request.ts";

/** Redis could not be reached or dropped the connection; the bridge answers 503. */
export class RedisUnavailableError extends Error {}

/** What one command produced, in Upstash's shape: a reply, or a Redis error text. */
export type Outcome = { result: unknown } | { error: string };

export interface RedisExecutor {
  /** Runs one command. Error replies and refused commands are `{ error }`; throws RedisUnavailableError. */
  run(command: Command): Promise<Outcome>;
  /** Runs commands in order, not atomically; each gets its own outcome. */
  pipeline(commands: Command[]): Promise<Outcome[]>;
  /**
   * MULTI/EXEC. Runtime errors stay per command (Redis semantics); a command Redis refuses to
   * queue, or one the bridge refuses, discards the whole transaction.
   */
  transaction(commands: Command[]): Promise<Outcome[] | { discarded: string }>;
  /** Resolves true once connected (at once if already), false after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface RedisExecutorOptions {
  redisUrl: string;
  /** Told when the connection is lost or restored (never contains credentials). */
  log?: (line: string) => void;
  /** The commands it runs (default: UPSTASH_CLIENT_COMMANDS). */
  allowCommands?: CommandAllowList;
  /** A command without a reply after this long fails with 503. Default 10 s. */
  commandTimeoutMs?: number;
  /** Told of every script a client runs or loads, before it runs (also inside pipelines and transactions). */
  onScript?: (script: ScriptSeen) => void;
}

const isReplyError = (error: unknown): error is Error => error instanceof (ReplyError as new () => Error);

const UNAVAILABLE = "ERR redis is unavailable, try again shortly";

/**
 * One shared ioredis connection for everything. Plain commands and pipelines are just written
 * in order. Transactions use ioredis' own multi(), which writes MULTI…EXEC in one go on that
 * connection, so concurrent transactions (and other requests) can never interleave with it.
 */
export function createRedisExecutor(options: RedisExecutorOptions): RedisExecutor {
  const log = options.log ?? (() => {});
  const client = new Redis(options.redisUrl, {
    // RESP2: exactly the reply shapes Upstash's REST API returns (flat HGETALL, string scores).
    protocol: 2,
    disableClientInfo: true,
    // Fail fast instead of queueing: a request while Redis is down gets a 503, not a hang, and a
    // command in flight when the connection drops is rejected rather than silently re-sent.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 10_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
  });
  // Log transitions only, not every failed request during an outage.
  let connectedOnce = false;
  let connected = false;
  let closing = false;
  client.on("ready", () => {
    log(connectedOnce ? "redis connection restored" : "connected to redis");
    connectedOnce = connected = true;
  });
  client.on("close", () => {
    if (connected && !closing) log("redis connection lost; reconnecting");
    connected = false;
  });
  // Without a listener ioredis prints every failed reconnect attempt; the transitions above suffice.
  client.on("error", () => {});
  const scripts = createScriptRegistry();

  /** Policy and script rewriting; a string is the refusal to report instead of running. */
  const prepare = (command: Command) => {
    const refusal = refusalReason(command, options.allowCommands);
    if (refusal) return refusal;
    const prepared = scripts.prepare(command.name, command.args);
    if (prepared.script) options.onScript?.(prepared.script);
    return { name: command.name, args: prepared.args, replaceResult: prepared.replaceResult };
  };

  const unavailable = (error: unknown): RedisUnavailableError => {
    // While connected this is a timeout or a dropped reply, worth a line; during an outage it is noise.
    if (connected) log(`redis command failed without a reply: ${(error as Error).message}`);
    return new RedisUnavailableError(UNAVAILABLE, { cause: error });
  };

  const run = async (command: Command): Promise<Outcome> => {
    const prepared = prepare(command);
    if (typeof prepared === "string") return { error: prepared };
    try {
      // Upper-case names on purpose: ioredis keys its reply transformers (HGETALL → object) by
      // the lower-case name, and we want the raw RESP reply.
      const result = await client.callBuffer(prepared.name, prepared.args);
      return { result: prepared.replaceResult ?? result };
    } catch (error) {
      if (isReplyError(error)) return { error: error.message };
      throw unavailable(error);
    }
  };

  return {
    run,

    async pipeline(commands) {
      // All writes happen before the first reply arrives, so this is one round trip to Redis.
      return await Promise.all(commands.map(run));
    },

    async transaction(commands) {
      const prepared = commands.map(prepare);
      const refusal = prepared.find((entry) => typeof entry === "string");
      if (refusal !== undefined) return { discarded: refusal };
      const multi = client.multi();
      for (const entry of prepared as Exclude<(typeof prepared)[number], string>[]) multi.callBuffer(entry.name, entry.args);
      let replies: Array<[Error | null, unknown]> | null;
      try {
        replies = await multi.exec();
      } catch (error) {
        if (!isReplyError(error)) throw unavailable(error);
        // EXECABORT: report why a command could not be queued, not just "previous errors".
        const previous = (error as Error & { previousErrors?: Error[] }).previousErrors?.[0];
        return { discarded: previous?.message ?? error.message };
      }
      if (!replies) return { discarded: "ERR transaction aborted" };
      return replies.map(([error, result], index): Outcome => {
        if (!error) return { result: (prepared[index] as { replaceResult?: string }).replaceResult ?? result };
        if (isReplyError(error)) return { error: error.message };
        throw unavailable(error);
      });
    },

    waitUntilReady(timeoutMs) {
      if (client.status === "ready") return Promise.resolve(true);
      return new Promise((resolve) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          client.off("ready", onReady);
          resolve(false);
        }, timeoutMs);
        client.once("ready", onReady);
      });
    },

    async close() {
      closing = true;
      client.disconnect();
    },
  };
}
