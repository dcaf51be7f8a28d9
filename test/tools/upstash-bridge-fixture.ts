import { randomBytes } from "node:crypto";
import { Redis, type RedisConfigNodejs } from "@upstash/redis";
import { type RedisServer, startRedisServer } from "../../tools/lib/redis-server";
import type { CommandAllowList } from "../../tools/upstash-bridge/command-policy";
import { type RunningUpstashBridge, type ScriptSeen, startUpstashBridge } from "../../tools/upstash-bridge/index";

/**
 * A real redis-server (free port, temp dir) with the real bridge in front of it, for one test
 * file. `logs` collects every line the bridge logs, so tests can check what it reveals.
 */
export interface BridgeFixture {
  redis: RedisServer;
  bridge: RunningUpstashBridge;
  url: string;
  token: string;
  logs: string[];
  /** Every script a client ran or loaded through the bridge, in order (the bridge's `onScript`). */
  scripts: ScriptSeen[];
  /** An @upstash/redis client for the bridge; defaults as in production (base64, auto-pipelining). */
  client(options?: Omit<RedisConfigNodejs, "url" | "token">): Redis;
  /** A raw HTTP request to the bridge with the right token unless `headers` override it. */
  request(path: string, init?: RequestInit): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  /** POST of a JSON body. */
  post(
    path: string,
    json: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  stop(): Promise<void>;
}

export async function startBridgeFixture(
  options: {
    maxBodyBytes?: number;
    redisDir?: string;
    persist?: boolean;
    /** The bridge's command allow-list; its default (what the project's clients need) unless given. */
    allowCommands?: CommandAllowList;
  } = {},
): Promise<BridgeFixture> {
  const token = randomBytes(24).toString("base64url");
  const logs: string[] = [];
  const scripts: ScriptSeen[] = [];
  const redis = await startRedisServer({ port: 0, dir: options.redisDir, persist: options.persist });
  const bridge = await startUpstashBridge({
    port: 0,
    host: "127.0.0.1",
    redisUrl: redis.url,
    token,
    maxBodyBytes: options.maxBodyBytes,
    allowCommands: options.allowCommands,
    log: (line) => logs.push(line),
    onScript: (script) => scripts.push(script),
  });
  const request: BridgeFixture["request"] = async (path, init = {}) => {
    const response = await fetch(bridge.url + path, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) },
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body, text, headers: response.headers };
  };
  return {
    redis,
    bridge,
    url: bridge.url,
    token,
    logs,
    scripts,
    client: (clientOptions = {}) => new Redis({ url: bridge.url, token, enableTelemetry: false, ...clientOptions }),
    request,
    post: (path, json, headers = {}) =>
      request(path, { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json", ...headers } }),
    async stop() {
      await bridge.close();
      await redis.stop();
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
