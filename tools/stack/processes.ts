import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Child processes of the local stack. Each runs in its own process group (detached), so stopping
 * it also stops what it spawned (wrangler → workerd), and only processes we started are touched.
 * Out of the launcher's group, a child would outlive a launcher that dies without stopping it; the
 * stack's lifeline (lifeline.ts) sees to that.
 */
export interface ManagedProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader has exited. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Where the child's output goes, line by line (prefixed); default: stderr. */
  log?: (line: string) => void;
  /** Resolves the start once a line matches; its match is returned. */
  readyLine?: RegExp;
  readyTimeoutMs?: number;
}

export async function startProcess(options: StartOptions): Promise<{ process: ManagedProcess; match: RegExpMatchArray | null }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[${options.name}] ${line}\n`));
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const managed: ManagedProcess = {
    name: options.name,
    pid: child.pid!,
    child,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child.pid!, "SIGTERM");
        const timer = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // The leader is gone (maybe long since: wrangler can die and leave workerd running); make
      // sure nothing it spawned outlives it.
      signalGroup(child.pid!, "SIGKILL");
    },
  };

  let resolveMatch: (match: RegExpMatchArray) => void = () => {};
  const matched = new Promise<RegExpMatchArray>((resolve) => (resolveMatch = resolve));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      log(line);
      const match = options.readyLine?.exec(line);
      if (match) resolveMatch(match);
    });
  }
  if (!options.readyLine) return { process: managed, match: null };

  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const match = await Promise.race([
      matched,
      exited.then((code) => {
        throw new Error(`${options.name} exited (code ${code}) before it was ready`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${options.name} was not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { process: managed, match };
  } catch (error) {
    await managed.stop(1_000);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Polls `url` until it answers `status` (default 200) or the deadline passes. */
export async function waitForHttp(url: string, { timeoutMs = 60_000, status = 200, intervalMs = 250 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      if (response.status === status) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
