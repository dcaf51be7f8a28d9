import { createHash } from "node:crypto";
import type { CommandArg } from "./parse-request.ts";

/**
 * Upstash accepts Lua shebang flags that real Redis rejects: @upstash/ratelimit's scripts start
 * with `#!lua flags=allow-key-locking`, and Redis 7 answers
 * "ERR Unexpected flag in script shebang: allow-key-locking". We drop only those Upstash-only
 * flags (Redis runs every script atomically anyway, which is stronger than key locking) and
 * leave everything else to Redis, so genuinely invalid shebangs still get Redis' own error.
 */
const UPSTASH_ONLY_FLAGS = new Set(["allow-key-locking"]);

/** Most distinct rewritten scripts remembered; a real app has a handful. */
const MAX_MAPPINGS = 10_000;

export function sha1Hex(data: CommandArg): string {
  return createHash("sha1").update(data).digest("hex");
}

/** The script with Upstash-only shebang flags removed; the same string when nothing changes. */
export function rewriteShebang(script: string): string {
  if (!script.startsWith("#!lua")) return script;
  const newline = script.indexOf("\n");
  const shebang = newline === -1 ? script : script.slice(0, newline);
  const rest = newline === -1 ? "" : script.slice(newline);
  // Redis splits the shebang line on any whitespace (sdssplitargs), "\r" included.
  const parts = shebang.split(/[ \t\v\f\r]+/).filter(Boolean);
  // Redis requires the engine name to be exactly "#!lua"; anything else is its error to report.
  if (parts[0] !== "#!lua") return script;
  let changed = false;
  const kept = [parts[0]];
  for (const part of parts.slice(1)) {
    if (!part.startsWith("flags=")) {
      kept.push(part);
      continue;
    }
    const flags = part.slice("flags=".length).split(",");
    const redisFlags = flags.filter((flag) => !UPSTASH_ONLY_FLAGS.has(flag));
    if (redisFlags.length === flags.length) {
      kept.push(part);
      continue;
    }
    changed = true;
    // "#!lua" alone means the same as "#!lua flags=" (no flags) to Redis.
    if (redisFlags.length > 0) kept.push(`flags=${redisFlags.join(",")}`);
  }
  return changed ? kept.join(" ") + rest : script;
}

export interface ScriptRegistry {
  /** Rewrites EVAL/SCRIPT LOAD bodies and EVALSHA/SCRIPT EXISTS digests; other commands pass through. */
  prepare(name: string, args: CommandArg[]): PreparedScriptCommand;
}

export interface PreparedScriptCommand {
  args: CommandArg[];
  /** For SCRIPT LOAD: the digest to report instead of Redis' (the client's SHA of its own text). */
  replaceResult?: string;
  /** For EVAL, EVALSHA and SCRIPT LOAD: the script a client sent, as the bridge saw it. */
  script?: ScriptSeen;
}

/**
 * A script a client ran or loaded. `keyLocking`: whether its shebang asked Upstash for key locking
 * (`#!lua flags=allow-key-locking`; without it Upstash runs the script under the database's global
 * lock); for EVALSHA, what the text with that hash said when the bridge saw it, or null for a hash
 * it never saw (Redis answers NOSCRIPT, and the client sends the text next).
 */
export interface ScriptSeen {
  command: "EVAL" | "EVALSHA" | "SCRIPT LOAD";
  sha1: string;
  keyLocking: boolean | null;
}

/** Whether a script's shebang carries `allow-key-locking` among its flags. */
export function asksForKeyLocking(script: string): boolean {
  if (!script.startsWith("#!lua")) return false;
  const newline = script.indexOf("\n");
  const shebang = newline === -1 ? script : script.slice(0, newline);
  return shebang
    .split(/[ \t\v\f\r]+/)
    .some((part) => part.startsWith("flags=") && part.slice("flags=".length).split(",").includes("allow-key-locking"));
}

/**
 * Keeps EVALSHA working across the rewrite: clients hash the ORIGINAL script text (e.g. the
 * hard-coded hashes in @upstash/ratelimit), while Redis only knows the rewritten one. Every
 * EVAL / SCRIPT LOAD that needed a rewrite records original SHA → rewritten SHA; EVALSHA of a
 * recorded SHA is translated. An unknown SHA goes to Redis unchanged and gets Redis' own
 * "NOSCRIPT No matching script. Please use EVAL." — the text both @upstash/redis' Script and
 * @upstash/ratelimit's safeEval look for ("noscript"/"NOSCRIPT") before falling back to EVAL.
 * The mapping is a pure function of the script text, so SCRIPT FLUSH never makes it wrong.
 */
export function createScriptRegistry(): ScriptRegistry {
  const rewrittenSha = new Map<string, string>();
  // Hash of a text seen → whether it asked for key locking (the same bound as the mappings).
  const keyLockingOf = new Map<string, boolean>();

  const remember = <V>(map: Map<string, V>, sha: string, value: V) => {
    // Oldest first out; a forgotten mapping only costs one NOSCRIPT round trip.
    if (map.size >= MAX_MAPPINGS) map.delete(map.keys().next().value!);
    map.set(sha, value);
  };

  /** Rewrites a script argument, recording the SHA mapping when it changed. */
  const rewriteArg = (arg: CommandArg): { arg: CommandArg; originalSha: string; keyLocking: boolean } => {
    const originalSha = sha1Hex(arg);
    const text = typeof arg === "string" ? arg : arg.subarray(0, 5).toString("latin1") === "#!lua" ? arg.toString("utf8") : null;
    const keyLocking = text !== null && asksForKeyLocking(text);
    remember(keyLockingOf, originalSha, keyLocking);
    if (text === null) return { arg, originalSha, keyLocking };
    const rewritten = rewriteShebang(text);
    if (rewritten === text) return { arg, originalSha, keyLocking };
    remember(rewrittenSha, originalSha, sha1Hex(rewritten));
    return { arg: rewritten, originalSha, keyLocking };
  };

  const shaOf = (arg: CommandArg) => (typeof arg === "string" ? arg.toLowerCase() : arg.toString("latin1").toLowerCase());
  const translateSha = (arg: CommandArg): CommandArg => rewrittenSha.get(shaOf(arg)) ?? arg;

  return {
    prepare(name, args) {
      if (args.length === 0) return { args };
      const [first, ...rest] = args as [CommandArg, ...CommandArg[]];
      switch (name) {
        case "EVAL":
        case "EVAL_RO": {
          const { arg, originalSha: sha1, keyLocking } = rewriteArg(first);
          return { args: [arg, ...rest], script: { command: "EVAL", sha1, keyLocking } };
        }
        case "EVALSHA":
        case "EVALSHA_RO": {
          const sha1 = shaOf(first);
          return { args: [translateSha(first), ...rest], script: { command: "EVALSHA", sha1, keyLocking: keyLockingOf.get(sha1) ?? null } };
        }
        case "SCRIPT": {
          const sub = (typeof first === "string" ? first : first.toString("latin1")).toUpperCase();
          if (sub === "LOAD" && rest.length === 1) {
            const { arg, originalSha, keyLocking } = rewriteArg(rest[0]!);
            return { args: [first, arg], replaceResult: originalSha, script: { command: "SCRIPT LOAD", sha1: originalSha, keyLocking } };
          }
          if (sub === "EXISTS") return { args: [first, ...rest.map(translateSha)] };
          return { args };
        }
        default:
          return { args };
      }
    },
  };
}
