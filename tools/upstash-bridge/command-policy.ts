import type { Command } from "./parse-request.ts";

/**
 * Commands the bridge refuses, because every HTTP request shares one Redis connection: a
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
export function refusalReason(command: Command): string | null {
  const { name, args } = command;
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
