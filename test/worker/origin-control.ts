import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { startOrigin } from "../../tools/stack/origin";
import type { ManagedProcess } from "../../tools/stack/processes";
import { listenOnLoopback, readBody, sendJson } from "./loopback-http";
import type { SlowLlm, SlowLlmBehaviour } from "./slow-llm";

/**
 * What the origin-failover tests control from inside workerd, where they cannot spawn or signal
 * processes: a real origin process (container/, started like the local stack starts it) and the
 * slow chat server behind its generation backend, through a small loopback HTTP server run by the
 * global setup, which also stops whatever is left at the end.
 *
 *   GET  /origin                  → { state, url, pid }
 *   POST /origin/stop             SIGTERM (the origin drains and exits); waits for the exit
 *   POST /origin/kill             SIGKILL: dies mid-request, as a crashed or OOM-killed pod does
 *   POST /origin/pause            SIGSTOP: the process stops answering, its port still accepts
 *   POST /origin/resume           SIGCONT
 *   POST /origin/start            starts it (loads the model, seconds), on the same URL each time;
 *                                 resumes it if paused; a no-op while it runs
 *   GET  /llm                     → { completions, waiting, streaming }
 *   POST /llm  {firstTokenDelayMs?, tokenIntervalMs?, tokens?}   how slowly the next answers come
 */
export type OriginState = "running" | "paused" | "stopped";

export interface ControlledOrigin {
  readonly url: string;
  state(): OriginState;
  pid(): number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
}

/**
 * An origin on a fixed loopback port that can be started, stopped, killed, paused and started
 * again. Nothing runs until the first start(): the suites that need it start it, so it costs the
 * global setup nothing and other runs not even that.
 */
export function createControlledOrigin(options: {
  port: number;
  jwtSecret: string;
  env: Record<string, string>;
  log?: (line: string) => void;
}): ControlledOrigin {
  const { port } = options;
  let current: ManagedProcess | undefined;
  let paused = false;
  let starting: Promise<void> | undefined;
  const launch = async () => {
    const started = await startOrigin({ port, jwtSecret: options.jwtSecret, env: options.env, log: options.log });
    current = started.process;
    paused = false;
  };
  const alive = () => current !== undefined && current.child.exitCode === null && current.child.signalCode === null;
  const signal = (name: NodeJS.Signals) => {
    // The origin leads its own process group (processes.ts); signal the group, as stop() does.
    if (current && alive()) process.kill(-current.pid, name);
  };

  const resume = () => {
    signal("SIGCONT");
    paused = false;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    state: () => (!alive() ? "stopped" : paused ? "paused" : "running"),
    pid: () => (alive() ? current?.pid : undefined),
    async start() {
      if (alive()) return resume();
      starting ??= launch()
        .finally(() => (starting = undefined))
        .then(() => {});
      await starting;
    },
    async stop() {
      // A stopped process only acts on SIGTERM once it runs again.
      resume();
      await current?.stop();
    },
    async kill() {
      if (!current || !alive()) return;
      signal("SIGKILL");
      await current.exited;
      paused = false;
    },
    pause() {
      signal("SIGSTOP");
      if (alive()) paused = true;
    },
    resume,
  };
}

export interface OriginControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startOriginControl(origin: ControlledOrigin, llm: SlowLlm): Promise<OriginControlServer> {
  const describe = () => ({ state: origin.state(), url: origin.url, pid: origin.pid() ?? null });
  const actions: Record<string, () => Promise<void> | void> = {
    start: () => origin.start(),
    stop: () => origin.stop(),
    kill: () => origin.kill(),
    pause: () => origin.pause(),
    resume: () => origin.resume(),
  };

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) =>
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const path = new URL(request.url ?? "/", "http://control").pathname;
    if (path === "/origin" && request.method === "GET") return sendJson(response, 200, describe());
    const action = /^\/origin\/(\w+)$/.exec(path)?.[1];
    if (action && request.method === "POST" && actions[action]) {
      await actions[action]();
      return sendJson(response, 200, describe());
    }
    if (path === "/llm" && request.method === "GET") return sendJson(response, 200, llm.stats());
    if (path === "/llm" && request.method === "POST") {
      const body = JSON.parse((await readBody(request)) || "{}") as Partial<SlowLlmBehaviour>;
      return sendJson(response, 200, llm.configure(body));
    }
    sendJson(response, 404, { error: `no such control: ${request.method} ${path}` });
  }

  return listenOnLoopback(server);
}
