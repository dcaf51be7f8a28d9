import { Buffer } from "node:buffer";

/**
 * RESP2 reply (as ioredis returns it with Buffer replies) → the JSON value Upstash returns.
 *
 * Integers stay numbers, nil is null, arrays nest. Strings are UTF-8 text by default (invalid
 * bytes become U+FFFD, as Upstash documents), or base64 with `Upstash-Encoding: base64`. In base64
 * mode Upstash leaves exactly one thing unencoded: a top-level "OK". @upstash/redis relies on
 * that split — its decode() keeps a top-level "OK" as is but base64-decodes every string inside
 * an array without exception, so a nested "OK" must be encoded like any other string.
 */
export function encodeReply(reply: unknown, base64: boolean): unknown {
  if (base64 && isOk(reply)) return "OK";
  return encode(reply, base64);
}

const OK = Buffer.from("OK");

const isBuffer = (value: unknown): value is Buffer => Buffer.isBuffer(value);

function isOk(reply: unknown): boolean {
  return (isBuffer(reply) && reply.equals(OK)) || reply === "OK";
}

function encode(reply: unknown, base64: boolean): unknown {
  if (reply === null || reply === undefined) return null;
  if (isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if (typeof reply === "string") return base64 ? Buffer.from(reply).toString("base64") : reply;
  if (typeof reply === "number" || typeof reply === "boolean") return reply;
  if (typeof reply === "bigint") return Number(reply);
  if (Array.isArray(reply)) return reply.map((item) => encode(item, base64));
  // An error nested in an array (e.g. a Lua table holding redis.error_reply) becomes its text.
  if (reply instanceof Error) return encode(reply.message, base64);
  return encode(String(reply), base64);
}
