import { join } from "node:path";
import { ROOT } from "./paths";
import { type ManagedProcess, startProcess } from "./processes";

/**
 * Starts the Upstash REST bridge (tools/upstash-bridge) as its own process, as Upstash is its own
 * service in production; resolves with its URL once it listens. The token travels in the
 * environment, never on the command line.
 */
export async function startBridgeProcess(options: {
  redisUrl: string;
  token: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<{ url: string; process: ManagedProcess }> {
  const { process: child, match } = await startProcess({
    name: "bridge",
    command: process.execPath,
    args: [join(ROOT, "node_modules/tsx/dist/cli.mjs"), join(ROOT, "tools/upstash-bridge/main.ts")],
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: options.redisUrl,
      UPSTASH_REDIS_REST_TOKEN: options.token,
      BRIDGE_PORT: String(options.port ?? 0),
      BRIDGE_HOST: "127.0.0.1",
    },
    log: options.log,
    readyLine: /upstash bridge listening on (http:\/\/\S+)/,
    readyTimeoutMs: 30_000,
  });
  return { url: match![1]!.replace(/\/$/, ""), process: child };
}
