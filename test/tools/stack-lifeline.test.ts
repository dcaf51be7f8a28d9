import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../tools/lib/ports";
import { findRedisServerBinary } from "../../tools/lib/redis-server";
import { ROOT } from "../../tools/stack/paths";

/**
 * `npm start`'s promise (tools/stack/lifeline.ts): no child of the local stack outlives its
 * launcher, however the launcher ends. The real launcher (start.ts, without the npm and tsx
 * wrappers, so that its PID is the launcher's) runs in its own process group on a free port with
 * its own state directory, so it never meets a running `npm start`. Each case records every
 * process under the launcher once the stack is ready, ends the launcher one way, and expects all
 * of them gone (exited, or a zombie waiting for init) and the worker's port free.
 */
const run = promisify(execFile);
const READY_WITHIN_MS = 180_000;
/** The watchdog's grace (5 s) plus time to spare on a loaded machine. */
const GONE_WITHIN_MS = 15_000;
const TEST_TIMEOUT_MS = READY_WITHIN_MS + GONE_WITHIN_MS + 30_000;

interface Launcher {
  child: ChildProcess;
  port: number;
  stateDir: string;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  zombie: boolean;
  command: string;
}

const launchers: Launcher[] = [];
const recorded: ProcessInfo[] = [];

async function startLauncher(): Promise<Launcher> {
  const stateDir = mkdtempSync(join(tmpdir(), "edge-rag-lifeline-"));
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "tools/stack/start.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), EDGE_RAG_STATE: stateDir },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const launcher: Launcher = { child, port, stateDir, output: () => output, exit };
  launchers.push(launcher);

  const deadline = Date.now() + READY_WITHIN_MS;
  while (!/edge-rag is ready/.test(output)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      throw new Error(`the stack did not become ready:\n${output.slice(-3_000)}`);
    }
    await sleep(200);
  }
  return launcher;
}

async function processTable(): Promise<ProcessInfo[]> {
  const { stdout } = await run("ps", ["-A", "-o", "pid=,ppid=,stat=,args="], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s*(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map(([, pid, ppid, stat, command]) => ({ pid: Number(pid), ppid: Number(ppid), zombie: stat!.startsWith("Z"), command: command! }));
}

/** Every live process under the launcher (children start their own groups and sessions). */
async function stackProcesses(launcher: Launcher): Promise<ProcessInfo[]> {
  const table = await processTable();
  const found = new Set([launcher.child.pid!]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const info of table) {
      if (found.has(info.ppid) && !found.has(info.pid)) {
        found.add(info.pid);
        grew = true;
      }
    }
  }
  const processes = table.filter((info) => found.has(info.pid) && info.pid !== launcher.child.pid && !info.zombie);
  recorded.push(...processes);
  return processes;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Waits up to GONE_WITHIN_MS for every process to be gone and the port free; returns what is left. */
async function leftAfterEnd(processes: ProcessInfo[], port: number) {
  const started = Date.now();
  for (;;) {
    const live = new Map((await processTable()).filter((info) => !info.zombie).map((info) => [info.pid, info]));
    // A PID counts as ours while its command is the one recorded (not a new process given the PID).
    const left = processes.filter((info) => live.get(info.pid)?.command === info.command).map((info) => `${info.pid} ${info.command}`);
    const portFree = await portIsFree(port);
    if ((left.length === 0 && portFree) || Date.now() - started > GONE_WITHIN_MS) return { left, portFree };
    await sleep(250);
  }
}

/** The launcher's exit status, or "still running" once GONE_WITHIN_MS has passed. */
async function exitWithin(launcher: Launcher) {
  return Promise.race([launcher.exit, sleep(GONE_WITHIN_MS).then(() => "still running")]);
}

function expectWholeStack(processes: ProcessInfo[]) {
  const commands = processes.map((info) => info.command).join("\n");
  // Without these the test could pass with nothing recorded.
  expect(commands).toMatch(/lifeline-watchdog\.mjs/);
  expect(commands).toMatch(/workerd/);
  expect(commands).toMatch(/src\/server\.ts/);
  if (findRedisServerBinary()) {
    expect(commands).toMatch(/redis-server/);
    expect(commands).toMatch(/upstash-bridge/);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  // A failed case must not leave its stack behind: every group recorded, then the launcher's.
  const live = new Map((await processTable()).filter((info) => !info.zombie).map((info) => [info.pid, info.command]));
  for (const info of recorded.splice(0)) {
    if (live.get(info.pid) !== info.command) continue;
    for (const target of [-info.pid, info.pid]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Not a group leader, or already gone.
      }
    }
  }
  for (const launcher of launchers.splice(0)) {
    if (launcher.child.exitCode === null && launcher.child.signalCode === null) {
      try {
        process.kill(-launcher.child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    rmSync(launcher.stateDir, { recursive: true, force: true });
  }
});

describe.skipIf(process.platform === "win32")("the local stack's lifeline: nothing outlives the launcher", () => {
  it(
    "happy: SIGKILL of the launcher alone (no orderly stop) ends every child and frees the worker port",
    async () => {
      const launcher = await startLauncher();
      const processes = await stackProcesses(launcher);
      expectWholeStack(processes);

      process.kill(launcher.child.pid!, "SIGKILL");
      const { left, portFree } = await leftAfterEnd(processes, launcher.port);
      expect(left).toEqual([]);
      expect(portFree).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "happy: a quiet terminal (details in the log file); SIGTERM stops the stack in order, within the stop deadline",
    async () => {
      const launcher = await startLauncher();
      const processes = await stackProcesses(launcher);
      expectWholeStack(processes);

      // The terminal shows the stack's progress and where to look; the components' output is in the log file.
      expect(launcher.output()).toMatch(/\[stack\] applying D1 migrations/);
      expect(launcher.output()).not.toMatch(/^\[(d1|worker|origin|redis|bridge)\] /m);
      const logFile = join(launcher.stateDir, "edge-rag.log");
      expect(launcher.output()).toContain(logFile);
      expect(readFileSync(logFile, "utf8")).toMatch(/^\[worker\] /m);

      process.kill(launcher.child.pid!, "SIGTERM");
      expect(await exitWithin(launcher)).toEqual({ code: 0, signal: null });
      expect(launcher.output()).toContain("stopping edge-rag…");
      const { left, portFree } = await leftAfterEnd(processes, launcher.port);
      expect(left).toEqual([]);
      expect(portFree).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "error: Ctrl-C on `npm start | tee log` (the reader of its output gone) still stops everything in order",
    async () => {
      const launcher = await startLauncher();
      const processes = await stackProcesses(launcher);
      expectWholeStack(processes);

      // What the terminal's Ctrl-C does to `tee`: the launcher's next write fails with EPIPE.
      launcher.child.stdout!.destroy();
      launcher.child.stderr!.destroy();
      process.kill(launcher.child.pid!, "SIGINT");
      expect(await exitWithin(launcher)).toEqual({ code: 0, signal: null });
      const { left, portFree } = await leftAfterEnd(processes, launcher.port);
      expect(left).toEqual([]);
      expect(portFree).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});
