import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { errors } from "@upstash/redis";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../tools/lib/ports";
import { findRedisServerBinary, pingRedis, startRedisServer } from "../../tools/lib/redis-server";
import { ROOT } from "../../tools/stack/paths";
import { startUpstashBridge } from "../../tools/upstash-bridge/index";
import { sleep, startBridgeFixture } from "./upstash-bridge-fixture";

// The redis-server launcher, the bridge's behaviour when Redis goes away and comes back, and the CLI.
const tempDirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-bridge-test-"));
  tempDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe("happy: tools/lib/redis-server", () => {
  it("finds the installed binary, and honours REDIS_SERVER_BIN", () => {
    const found = findRedisServerBinary();
    expect(found).toMatch(/redis-server$/);
    const saved = process.env.REDIS_SERVER_BIN;
    try {
      process.env.REDIS_SERVER_BIN = join(tempDir(), "no-such-redis-server");
      expect(findRedisServerBinary()).toBeNull();
      process.env.REDIS_SERVER_BIN = found!;
      expect(findRedisServerBinary()).toBe(found);
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
      else process.env.REDIS_SERVER_BIN = saved;
    }
  });

  it("starts on free ports, answers PING, and stop() ends the process and removes its temp dir", async () => {
    const a = await startRedisServer({ port: 0 });
    const b = await startRedisServer().catch(async (error) => {
      await a.stop();
      throw error;
    });
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.url).toBe(`redis://127.0.0.1:${a.port}`);
      expect(await pingRedis(a.port)).toBe(true);
      expect(await pingRedis(b.port)).toBe(true);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(isAlive(a.pid)).toBe(false);
    expect(existsSync(a.dir)).toBe(false);
    expect(await pingRedis(a.port)).toBe(false);
    await a.stop(); // idempotent
  });

  it("persist keeps data across a restart in the same dir; without it nothing survives", async () => {
    for (const persist of [true, false]) {
      const dir = tempDir();
      const first = await startRedisServer({ dir, persist });
      const bridge = await startUpstashBridge({ port: 0, redisUrl: first.url, token: "t" });
      const call = (command: unknown[]) =>
        fetch(bridge.url, { method: "POST", headers: { authorization: "Bearer t" }, body: JSON.stringify(command) }).then(
          (r) => r.json() as Promise<{ result?: unknown; error?: string }>,
        );
      try {
        expect(await call(["SET", "kept", "yes"])).toEqual({ result: "OK" });
        await first.stop();
        expect(existsSync(dir)).toBe(true); // a caller's dir is never removed
        const second = await startRedisServer({ port: first.port, dir, persist });
        try {
          const value = await waitFor(async () => {
            const body = await call(["GET", "kept"]);
            return "result" in body ? body.result : undefined;
          }, 5_000);
          expect(value).toBe(persist ? "yes" : null);
        } finally {
          await second.stop();
        }
      } finally {
        await bridge.close();
        await first.stop();
      }
    }
  });

  it("error: an explicit port that is taken is a clear error", async () => {
    const taken = await startRedisServer();
    try {
      // Stop it should it wrongly start, so a failing test leaves no process behind.
      const outcome = await startRedisServer({ port: taken.port }).then(
        async (wrongly) => {
          await wrongly.stop();
          return "started";
        },
        (error: Error) => error.message,
      );
      expect(outcome).toBe(`port ${taken.port} is already in use`);
    } finally {
      await taken.stop();
    }
  });
});

describe("error: Redis goes away and comes back", () => {
  it("answers 503 with error JSON while Redis is down, then recovers by itself", async () => {
    const dir = tempDir();
    const fx = await startBridgeFixture({ redisDir: dir, persist: true });
    let redis = fx.redis;
    try {
      const client = fx.client({ enableAutoPipelining: false, retry: false });
      await client.set("outage:k", "before");
      await redis.stop();

      for (const [path, body] of [
        ["/", ["GET", "outage:k"]],
        ["/pipeline", [["GET", "outage:k"]]],
        ["/multi-exec", [["GET", "outage:k"]]],
      ] as const) {
        const response = await fx.post(path, body);
        expect(response.status, path).toBe(503);
        expect(response.body).toEqual({ error: "ERR redis is unavailable, try again shortly" });
      }
      await expect(client.get("outage:k")).rejects.toThrow(errors.UpstashError);
      await expect(client.get("outage:k")).rejects.toThrow(/redis is unavailable/);

      redis = await startRedisServer({ port: redis.port, dir, persist: true });
      const value = await waitFor(() => client.get<string>("outage:k").catch(() => undefined), 5_000);
      expect(value).toBe("before");
      expect(fx.logs.some((line) => line.includes("redis connection lost"))).toBe(true);
      expect(fx.logs.some((line) => line.includes("redis connection restored"))).toBe(true);
    } finally {
      await fx.bridge.close();
      await redis.stop();
    }
  });

  it("starts before Redis exists (503) and begins serving once it is up", async () => {
    const port = await freePort();
    const bridge = await startUpstashBridge({
      port: 0,
      redisUrl: `redis://127.0.0.1:${port}`,
      token: "t",
      log: () => {},
      waitForRedisMs: 0,
    });
    const ping = () => fetch(`${bridge.url}/ping`, { headers: { authorization: "Bearer t" } });
    try {
      expect((await ping()).status).toBe(503);
      const redis = await startRedisServer({ port });
      try {
        const response = await waitFor(async () => {
          const r = await ping();
          return r.status === 200 ? r.json() : undefined;
        }, 5_000);
        expect(response).toEqual({ result: "PONG" });
      } finally {
        await redis.stop();
      }
    } finally {
      await bridge.close();
    }
  });
});

describe("happy: the CLI (tools/upstash-bridge/main.ts)", () => {
  const CLI_ENV = ["UPSTASH_REDIS_REST_TOKEN", "BRIDGE_PORT", "BRIDGE_HOST", "REDIS_URL", "BRIDGE_MAX_BODY_BYTES"];
  const cli = (env: Record<string, string>) => {
    // Only the given CLI variables count, whatever this process' environment holds.
    const childEnv = { ...process.env };
    for (const name of CLI_ENV) delete childEnv[name];
    Object.assign(childEnv, env);
    return spawn(process.execPath, ["--import", "tsx", join(ROOT, "tools/upstash-bridge/main.ts")], {
      cwd: ROOT,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
  };

  it("prints its URL, serves requests and exits cleanly on SIGTERM", async () => {
    const redis = await startRedisServer();
    const child = cli({ BRIDGE_PORT: "0", BRIDGE_HOST: "127.0.0.1", REDIS_URL: redis.url, UPSTASH_REDIS_REST_TOKEN: "cli-token" });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once("line", resolve);
        child.once("exit", (code) => reject(new Error(`CLI exited with ${code}`)));
      });
      const url = /^upstash bridge listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
      expect(url, line).toBeDefined();
      const response = await fetch(`${url}/ping`, { headers: { authorization: "Bearer cli-token" } });
      expect(await response.json()).toEqual({ result: "PONG" });
      process.kill(child.pid!, "SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await redis.stop();
    }
  });

  it("error: refuses to start without a token, or with a bad port", async () => {
    for (const env of [{}, { UPSTASH_REDIS_REST_TOKEN: "t", BRIDGE_PORT: "eighty" }] as Array<Record<string, string>>) {
      const child = cli(env);
      let stderr = "";
      child.stderr!.on("data", (chunk) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(code).toBe(2);
      expect(stderr).toMatch(/UPSTASH_REDIS_REST_TOKEN is required|BRIDGE_PORT must be an integer/);
    }
  });
});
