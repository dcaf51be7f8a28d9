/**
 * CLI: the Upstash REST bridge in front of a running redis-server.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 UPSTASH_REDIS_REST_TOKEN=… tsx tools/upstash-bridge/main.ts
 *
 * Env: BRIDGE_PORT (default 8079), BRIDGE_HOST (default 127.0.0.1), REDIS_URL (default
 * redis://127.0.0.1:6379), UPSTASH_REDIS_REST_TOKEN (required), BRIDGE_MAX_BODY_BYTES (default 10 MiB).
 */
import { DEFAULT_MAX_BODY_BYTES, startUpstashBridge } from "./index.ts";

function fail(message: string): never {
  process.stderr.write(`upstash bridge: ${message}\n`);
  process.exit(2);
}

function integerEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) fail(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  return value;
}

const token = process.env.UPSTASH_REDIS_REST_TOKEN;
if (!token) fail("UPSTASH_REDIS_REST_TOKEN is required (the bearer token clients must send)");
const port = integerEnv("BRIDGE_PORT", 8079, 0, 65_535);
const host = process.env.BRIDGE_HOST || "127.0.0.1";
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const maxBodyBytes = integerEnv("BRIDGE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1, 1024 * 1024 * 1024);

const bridge = await startUpstashBridge({ port, host, redisUrl, token, maxBodyBytes }).catch((error: Error) => fail(error.message));
process.stdout.write(`upstash bridge listening on ${bridge.url}\n`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void bridge.close().then(() => process.exit(0));
  });
}
