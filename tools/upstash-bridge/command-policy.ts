import type { Command } from "./parse-request.ts";

/**
 * The commands the bridge runs by default: what the project's Upstash clients send, nothing else
 * (issue 11: a leaked local token cannot CONFIG SET, FLUSHALL, KEYS * or MIGRATE). The worker's rate
 * limiter sends EVALSHA (EVAL on NOSCRIPT), as @upstash/ratelimit does, which the tests run too
 * (with SCRIPT LOAD, and MULTI-EXEC of SET/DEL/SADD… only for deny lists the project does not
 * enable); the query cache GET and SET; the cache counters a pipeline of HINCRBY and HGETALL;
 * @upstash/redis itself PING. The rest are the plain reads and writes a client library may issue
 * around them. `SCRIPT` is limited to LOAD and EXISTS.
 */
export const UPSTASH_CLIENT_COMMANDS: ReadonlySet<string> = new Set([
  "EVAL",
  "EVALSHA",
  "EVAL_RO",
  "EVALSHA_RO",
  "SCRIPT",
  "GET",
  "SET",
  "MGET",
  "DEL",
  "EXISTS",
  "EXPIRE",
  "PEXPIRE",
  "TTL",
  "PTTL",
  "INCR",
  "INCRBY",
  "HGET",
  "HSET",
  "HMGET",
  "HGETALL",
  "HINCRBY",
  "PING",
]);

const SCRIPT_SUBCOMMANDS = new Set(["LOAD", "EXISTS"]);

/** Which commands may run: an allow-list, or `"any"` (only the refusals below; for protocol tests). */
export type CommandAllowList = ReadonlySet<string> | "any";

/**
 * Commands the bridge refuses whatever the allow-list, because every HTTP request shares one Redis connection: a
 * blocking command would stall everyone behind it, and connection-state commands would leak
 * into other requests (or, like SUBSCRIBE/MONITOR, turn the connection into a stream).
 * Transactions are the /multi-exec endpoint, not raw MULTI/EXEC.
 */
const BLOCKING = new Set(["BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF"]);

const CONNECTION_STATE = new Set([
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
  "SELECT",
  "HELLO",
  "AUTH",
  "RESET",
  "QUIT",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  // These would hand the connection over to replication traffic.
  "SYNC",
  "PSYNC",
  "REPLCONF",
]);

/** CLIENT subcommands that change how this connection behaves. */
const CLIENT_STATE = new Set(["REPLY", "TRACKING", "CACHING", "SETNAME", "SETINFO", "NO-EVICT", "NO-TOUCH"]);

/** Stop or stall the whole server; never something an app should do over REST. */
const SERVER_CONTROL = new Set(["SHUTDOWN", "DEBUG"]);

const text = (arg: Command["args"][number] | undefined) =>
  (arg === undefined ? "" : typeof arg === "string" ? arg : arg.toString("latin1")).toUpperCase();

/** Why the bridge refuses this command, or null when it may run. */
export function refusalReason(command: Command, allowed: CommandAllowList = UPSTASH_CLIENT_COMMANDS): string | null {
  const { name, args } = command;
  const refused = fixedRefusal(name, args);
  if (refused || allowed === "any") return refused;
  if (!allowed.has(name)) return `ERR ${name} is not allowed by the Upstash bridge: it runs only the commands its clients need`;
  if (name === "SCRIPT" && !SCRIPT_SUBCOMMANDS.has(text(args[0]))) {
    return `ERR SCRIPT ${text(args[0])} is not allowed by the Upstash bridge: only SCRIPT LOAD and SCRIPT EXISTS`;
  }
  return null;
}

function fixedRefusal(name: string, args: Command["args"]): string | null {
  if (BLOCKING.has(name))
    return `ERR ${name} is not supported by the Upstash bridge: blocking commands would stall its shared Redis connection`;
  if ((name === "XREAD" || name === "XREADGROUP") && hasBlockOption(args)) {
    return `ERR ${name} with BLOCK is not supported by the Upstash bridge: blocking commands would stall its shared Redis connection`;
  }
  if (CONNECTION_STATE.has(name)) {
    return name === "MULTI" || name === "EXEC" || name === "DISCARD" || name === "WATCH" || name === "UNWATCH"
      ? `ERR ${name} is not supported by the Upstash bridge: send transactions to /multi-exec`
      : `ERR ${name} is not supported by the Upstash bridge: it changes the state of the shared Redis connection`;
  }
  if (name === "CLIENT" && CLIENT_STATE.has(text(args[0]))) {
    return `ERR CLIENT ${text(args[0])} is not supported by the Upstash bridge: it changes the state of the shared Redis connection`;
  }
  if (SERVER_CONTROL.has(name)) return `ERR ${name} is not supported by the Upstash bridge`;
  return null;
}

/** BLOCK appears among the options, which all come before STREAMS. */
function hasBlockOption(args: Command["args"]): boolean {
  for (const arg of args) {
    const option = text(arg);
    if (option === "STREAMS") return false;
    if (option === "BLOCK") return true;
  }
  return false;
}
