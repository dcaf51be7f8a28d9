import { spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { freePort } from "./ports";

/**
 * A real `redis-server` child process for local development and tests: loopback only, its own
 * data directory, stopped by PID. Never touches a system Redis service.
 */

export interface RedisServerOptions {
  /** TCP port on 127.0.0.1; 0 or omitted picks a free one. */
  port?: number;
  /** Data directory (created if missing). Omitted: a temporary directory, removed on stop(). */
  dir?: string;
  /** Keep data across restarts (append-only file in `dir`). Default false: nothing is written. */
  persist?: boolean;
  /** Path of the binary; default findRedisServerBinary(). */
  binary?: string;
  /** Receives the server's own log lines (warnings and errors only). */
  log?: (line: string) => void;
  /** How long to wait until it answers. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
  dir: string;
  /** SIGTERM by PID (SIGKILL after 5 s), resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

const FALLBACK_DIRS = ["/usr/bin", "/usr/local/bin", "/usr/sbin", "/opt/homebrew/bin", "/snap/bin"];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Path of a usable `redis-server` binary, or null when none is installed. `REDIS_SERVER_BIN`
 * overrides the search; otherwise PATH and a few usual install locations are tried.
 */
export function findRedisServerBinary(): string | null {
  const override = process.env.REDIS_SERVER_BIN;
  if (override) return isExecutable(override) ? resolve(override) : null;
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, "redis-server");
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** One inline PING; true once the server answers +PONG (not -LOADING or a refused connection). */
export function pingRedis(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

/**
 * The PID of the redis-server answering on `port` (from INFO server), or null while it is not
 * answering or still loading. Lets a launcher tell its own server from one already on the port.
 */
export function redisServerPid(port: number, timeoutMs = 1_000): Promise<number | null> {
  return new Promise((resolvePid) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = Buffer.alloc(0);
    const done = (pid: number | null) => {
      socket.destroy();
      resolvePid(pid);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once("error", () => done(null));
    socket.once("connect", () => socket.write("INFO server\r\n"));
    socket.on("data", (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const headerEnd = reply.indexOf("\r\n");
      if (headerEnd === -1) return;
      if (reply[0] !== 0x24 /* "$" */) return done(null); // -LOADING or another error
      const length = Number(reply.subarray(1, headerEnd).toString("latin1"));
      if (reply.length < headerEnd + 2 + length) return;
      const pid = /^process_id:(\d+)/m.exec(reply.subarray(headerEnd + 2, headerEnd + 2 + length).toString("latin1"))?.[1];
      done(pid ? Number(pid) : null);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `redis-server` on 127.0.0.1 and resolves once it answers (INFO reporting its own PID,
 * so a server already on that port is never mistaken for it). With `port: 0` a free port is
 * picked first; if another process grabs it before redis binds, a new one is tried.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? findRedisServerBinary();
  if (!binary) throw new Error("redis-server not found: install it (e.g. `apt-get install redis-server`) or set REDIS_SERVER_BIN");
  const pickPort = !options.port;
  const ownsDir = !options.dir;
  const dir = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), "edge-rag-redis-"));
  mkdirSync(dir, { recursive: true });
  try {
    for (let attempt = 1; ; attempt++) {
      const port = pickPort ? await freePort() : options.port!;
      try {
        return await launch(binary, port, dir, ownsDir, options);
      } catch (error) {
        // Only a port we picked can be retried: someone may have taken it in between.
        if (!pickPort || attempt >= 5 || !(error instanceof PortInUseError)) throw error;
      }
    }
  } catch (error) {
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

class PortInUseError extends Error {}

async function launch(binary: string, port: number, dir: string, ownsDir: boolean, options: RedisServerOptions): Promise<RedisServer> {
  const persistence = options.persist
    ? ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    : ["--appendonly", "no", "--save", ""];
  const child = spawn(
    binary,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--protected-mode",
      "yes",
      "--daemonize",
      "no",
      "--dir",
      dir,
      "--logfile",
      "",
      "--loglevel",
      "warning",
      ...persistence,
    ],
    // Its own process group: a terminal's Ctrl-C goes to the launcher, which stops redis last.
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const recent: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      options.log?.(line);
    });
  }
  const exited = new Promise<void>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once("exit", () => resolveExit());
  });
  const spawnError = new Promise<Error>((resolveError) => child.once("error", resolveError));
  let running = true;
  void exited.then(() => (running = false));

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  while (true) {
    const failure = await Promise.race([spawnError, sleep(0).then(() => null)]);
    if (failure) throw new Error(`cannot start ${binary}: ${failure.message}`);
    if (!running) {
      const output = recent.join("\n");
      if (/address already in use/i.test(output)) throw new PortInUseError(`port ${port} is already in use`);
      throw new Error(`redis-server exited before it was ready (code ${child.exitCode}):\n${output}`);
    }
    // Our own process must answer: with a taken port, PING would reach the other server.
    if ((await redisServerPid(port, 500)) === child.pid) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await exited;
      throw new Error(`redis-server did not answer on port ${port} within ${options.readyTimeoutMs ?? 10_000} ms`);
    }
    await sleep(50);
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    dir,
    stop() {
      stopping ??= (async () => {
        if (running) {
          // SIGTERM lets redis flush its append-only file before exiting.
          child.kill("SIGTERM");
          const timer = setTimeout(() => running && child.kill("SIGKILL"), 5_000);
          await exited;
          clearTimeout(timer);
        }
        if (ownsDir) rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
