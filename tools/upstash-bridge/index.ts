import type { AddressInfo } from "node:net";
import { createBridge, defaultLog, type UpstashBridgeOptions } from "./bridge.ts";

export { createUpstashBridge, DEFAULT_MAX_BODY_BYTES, type UpstashBridgeOptions } from "./bridge.ts";
export type { ScriptSeen } from "./lua-scripts.ts";

export interface StartUpstashBridgeOptions extends UpstashBridgeOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1: the bridge is for this machine only. */
  host?: string;
  /**
   * How long to wait for the Redis connection before resolving (default 5 s), so the first
   * request does not race it. If Redis is not up by then the bridge starts anyway and answers
   * 503 until it is.
   */
  waitForRedisMs?: number;
}

export interface RunningUpstashBridge {
  /** Base URL for `new Redis({ url, token })`, e.g. http://127.0.0.1:8079 */
  url: string;
  port: number;
  /** Stops accepting requests, drops open connections and closes the Redis connection. */
  close(): Promise<void>;
}

/** Starts the Upstash REST bridge; resolves once it listens and (normally) Redis is connected. */
export async function startUpstashBridge(options: StartUpstashBridgeOptions): Promise<RunningUpstashBridge> {
  const host = options.host ?? "127.0.0.1";
  const { server, waitForRedis } = createBridge(options);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    server.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  if (!(await waitForRedis(options.waitForRedisMs ?? 5_000))) {
    (options.log ?? defaultLog)("redis is not reachable yet; answering 503 until it is");
  }
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
