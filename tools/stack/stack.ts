import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildConsoleAssets } from "../console/build";
import { freePort } from "../lib/ports";
import { findRedisServerBinary, startRedisServer } from "../lib/redis-server";
import { startBridgeProcess } from "./bridge";
import { startLifeline } from "./lifeline";
import { startOrigin } from "./origin";
import { ROOT } from "./paths";
import { type ManagedProcess, startProcess, waitForHttp } from "./processes";
import { wrangler } from "./wrangler";

/** wrangler.toml's cron trigger, and how often it fires. */
const SYNC_CRON = "*/15 * * * *";
const SYNC_CRON_INTERVAL_MS = 15 * 60_000;

/**
 * The local stack: origin + (redis-server + Upstash bridge, when redis-server is installed) +
 * the worker under `wrangler dev`, with D1 migrations applied first. All state lives under
 * `stateDir` (default .wrangler/state), so a restart keeps the indexed data.
 *
 * No child outlives the process that started the stack: stop() stops them all within
 * STOP_DEADLINE_MS, and if that process ends any other way the lifeline (lifeline.ts) stops them.
 */
export interface StackOptions {
  port: number;
  stateDir: string;
  log?: (component: string, line: string) => void;
  /** Extra variables for the worker (e.g. test-friendly limits). */
  workerVars?: Record<string, string>;
}

export interface Stack {
  url: string;
  originUrl: string;
  rateLimiting: "upstash-bridge" | "workers-binding";
  stateDir: string;
  /** The secret the worker signs its origin calls with (src/origin/origin-token.ts): lets a benchmark call the origin directly. */
  originJwtSecret: string;
  /**
   * The group leaders of the running children (each runs in its own process group, so its
   * descendants are its own): what a benchmark samples memory from. The origin's entry changes
   * when it is restarted and is absent while it is stopped.
   */
  processes(): Array<{ name: string; pid: number }>;
  /**
   * Fires the cron trigger now, as the launcher does every 15 minutes (wrangler dev fires none by
   * itself); rejects unless the worker's scheduled handler ran without an error.
   */
  runCron(): Promise<void>;
  /** Restarts just the origin (e.g. after a test stopped it), on the same port. */
  startOrigin(): Promise<void>;
  stopOrigin(): Promise<void>;
  /** Stops every child at once; resolves within STOP_DEADLINE_MS (the lifeline sees to the rest). */
  stop(): Promise<void>;
  /** Resolves when the worker or the lifeline exits on its own. */
  crashed: Promise<string>;
}

interface LocalSecrets {
  AUTH_JWT_SECRET: string;
  ORIGIN_JWT_SECRET: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

/** Generated once per state directory, never printed. */
function localSecrets(stateDir: string): LocalSecrets {
  const file = join(stateDir, "edge-rag-secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as LocalSecrets;
  const secrets: LocalSecrets = {
    AUTH_JWT_SECRET: randomBytes(32).toString("base64url"),
    ORIGIN_JWT_SECRET: randomBytes(32).toString("base64url"),
    UPSTASH_REDIS_REST_TOKEN: randomBytes(24).toString("base64url"),
  };
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}

/**
 * Longest stop() waits. Each child gets SIGTERM and, 5 s later, SIGKILL; past this the lifeline,
 * closed last, kills whatever has still not exited.
 */
const STOP_DEADLINE_MS = 8_000;

export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? ((component, line) => process.stderr.write(`[${component}] ${line}\n`));
  mkdirSync(options.stateDir, { recursive: true });
  const secrets = localSecrets(options.stateDir);
  // Before any child: each one started from here on goes on the lifeline.
  const lifeline = await startLifeline();
  // The origin is kept apart: it can be stopped and restarted on its own.
  const processes: Array<{ name: string; pid: number; stop(): Promise<void> }> = [];
  let origin: ManagedProcess | undefined;
  // All at once, not one after another: the stop then takes one grace period at most, where a
  // sequence of them gave a supervisor's SIGKILL time to cut it short halfway.
  const stopAll = async () => {
    const stops = [origin, ...processes.splice(0)].map((child) => child?.stop().catch(() => {}));
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(stops), new Promise((resolve) => (deadline = setTimeout(resolve, STOP_DEADLINE_MS)))]);
    clearTimeout(deadline);
    lifeline.close();
  };

  try {
    // wrangler dev serves the console and /docs from dist/assets (wrangler.toml [assets]).
    await buildConsoleAssets();

    const vars: Record<string, string> = { ...secrets, ...options.workerVars };
    delete vars.UPSTASH_REDIS_REST_TOKEN;

    // The D1 migrations, Redis with its bridge, and the origin do not depend on each other: they
    // start together (the migrations' wrangler and the origin's model load each take seconds and
    // one core), and only the worker waits for all three. allSettled: a failure is handled once
    // everything that did start is on the list that stopAll() stops.
    log("stack", "applying D1 migrations…");
    const migrations = wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", options.stateDir], (line) =>
      log("d1", line),
    );

    let rateLimiting: Stack["rateLimiting"] = "workers-binding";
    const limiter = (async () => {
      if (!findRedisServerBinary()) {
        log(
          "stack",
          "redis-server not found: rate limiting falls back to the Workers rate-limiting binding (install redis-server for the Upstash path)",
        );
        return;
      }
      const redis = await startRedisServer({
        port: 0,
        dir: join(options.stateDir, "redis"),
        persist: true,
        log: (line) => log("redis", line),
      });
      processes.push({ name: "redis", pid: redis.pid, stop: () => redis.stop() });
      const bridge = await startBridgeProcess({
        redisUrl: redis.url,
        token: secrets.UPSTASH_REDIS_REST_TOKEN,
        log: (line) => log("bridge", line),
      });
      processes.push(bridge.process);
      vars.UPSTASH_REDIS_REST_URL = bridge.url;
      vars.UPSTASH_REDIS_REST_TOKEN = secrets.UPSTASH_REDIS_REST_TOKEN;
      rateLimiting = "upstash-bridge";
      log("stack", `rate limiting: redis-server + Upstash bridge at ${bridge.url}`);
    })();

    // The OS picks the origin's port; a restart (tests stop and start it) reuses it, since the
    // worker was told that URL.
    let originPort = 0;
    const launchOrigin = async () => {
      const started = await startOrigin({ port: originPort, jwtSecret: secrets.ORIGIN_JWT_SECRET, log: (line) => log("origin", line) });
      origin = started.process;
      originPort = Number(new URL(started.url).port);
      return started.url;
    };
    const [migrated, limited, launched] = await Promise.allSettled([migrations, limiter, launchOrigin()]);
    for (const result of [migrated, limited, launched]) if (result.status === "rejected") throw result.reason;
    const originUrl = (launched as PromiseFulfilledResult<string>).value;
    vars.ORIGIN_URLS = originUrl;

    // Secrets go to wrangler through an env file (mode 600), not the command line.
    const envFile = join(options.stateDir, "worker.env");
    writeFileSync(
      envFile,
      `${Object.entries(vars)
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
        .join("\n")}\n`,
      { mode: 0o600 },
    );
    const { process: worker } = await startProcess({
      name: "worker",
      command: process.execPath,
      args: [
        join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        String(options.port),
        "--persist-to",
        options.stateDir,
        "--env-file",
        envFile,
        "--show-interactive-dev-session=false",
        // wrangler dev fires no cron by itself: /__scheduled lets the launcher fire it (below).
        "--test-scheduled",
        "--inspector-port",
        String(await freePort()),
        "--log-level",
        "info",
      ],
      cwd: ROOT,
      // wrangler's own log file (where it records the worker's uncaught errors) in the state
      // directory, where workerErrors() reads it.
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", WRANGLER_LOG_PATH: join(options.stateDir, WRANGLER_LOGS) },
      log: (line) => log("worker", line),
      readyLine: /Ready on (http:\/\/\S+)/,
      readyTimeoutMs: 120_000,
    });
    processes.push(worker);
    const url = `http://127.0.0.1:${options.port}`;
    await waitForHttp(`${url}/ready`, { timeoutMs: 120_000 });

    // The cron trigger (wrangler.toml [triggers]: bucket sync every 15 minutes), fired as Cloudflare
    // would. A failed one is logged: a silent one left bucket sync stalled with nothing to say why.
    const runCron = async () => {
      const response = await fetch(`${url}/__scheduled?cron=${encodeURIComponent(SYNC_CRON)}`);
      if (!response.ok) throw new Error(`the cron trigger failed: ${response.status} ${await response.text()}`);
    };
    const cron = setInterval(() => {
      runCron().catch((error: Error) => log("stack", `${error.message} (bucket sync runs with the next one)`));
    }, SYNC_CRON_INTERVAL_MS);
    cron.unref();

    let stopping = false;
    const crashed = new Promise<string>((resolve) => {
      worker.exited.then(() => {
        if (!stopping) resolve("worker");
      });
      lifeline.exited.then(() => {
        if (!stopping) resolve("lifeline");
      });
    });
    return {
      url,
      originUrl,
      rateLimiting,
      stateDir: options.stateDir,
      originJwtSecret: secrets.ORIGIN_JWT_SECRET,
      runCron,
      processes() {
        const running = origin && origin.child.exitCode === null && origin.child.signalCode === null ? [origin] : [];
        return [...running, ...processes].map(({ name, pid }) => ({ name, pid }));
      },
      async startOrigin() {
        if (!origin || origin.child.exitCode !== null || origin.child.signalCode !== null) await launchOrigin();
      },
      async stopOrigin() {
        await origin?.stop();
      },
      async stop() {
        stopping = true;
        clearInterval(cron);
        await stopAll();
      },
      crashed,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const WRANGLER_LOGS = "wrangler-logs";

/**
 * The worker's errors that wrangler logged for a stack started with `stateDir`, by first line and
 * count: uncaught exceptions and `waitUntil` promises workerd failed ("Promise will never
 * complete"), which reach no response and no test assertion. Empty when there were none; null
 * when wrangler wrote no log there (a stack of an older checkout, or none started).
 */
export function workerErrors(stateDir: string): Map<string, number> | null {
  const dir = join(stateDir, WRANGLER_LOGS);
  const files = existsSync(dir) ? readdirSync(dir) : [];
  if (files.length === 0) return null;
  const errors = new Map<string, number>();
  for (const file of files) {
    // Entries are `--- <time> <level>` then the message, up to the next `---`.
    for (const [, message] of readFileSync(join(dir, file), "utf8").matchAll(/^--- \S+ error\n(.*)$/gm)) {
      const line = message!.replace(/^✘ \[ERROR\] /, "").trim();
      errors.set(line, (errors.get(line) ?? 0) + 1);
    }
  }
  return errors;
}
