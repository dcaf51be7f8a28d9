import { type ChildProcess, spawn } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { once } from "node:events";
import { join } from "node:path";
import { ROOT } from "./paths";

/**
 * The local stack's lifeline: every child process the launcher starts while it is open stops when
 * the launcher does, however the launcher ends: an orderly stop, a crash, SIGKILL, a closed
 * terminal. Within the watchdog's grace (SIGTERM, then SIGKILL), so a restart finds its ports free.
 *
 * Why it is needed: each child runs in its own process group (so that a terminal's Ctrl-C reaches
 * only the launcher, which stops them in order), and nothing in the kernel then ties a child to
 * its launcher. A watchdog process (lifeline-watchdog.mjs, in its own session, out of reach of
 * signals to the launcher's group) holds a pipe whose other end only the launcher has. The
 * launcher hands it each child's process group the moment the child has spawned (wrangler's
 * workerd is in wrangler's group); when the pipe closes, because the launcher closed it or because
 * the kernel did as the launcher died, the watchdog signals every group still alive and exits.
 *
 * Every child spawned in this process is handed over, whoever spawns it (startRedisServer does
 * not expose its child until redis answers), through Node's `child_process` diagnostics channel.
 * A child that is not a group leader (not spawned detached) is ignored by the watchdog.
 *
 * Failure mode: a killed watchdog leaves the children without a lifeline; `exited` says so, and
 * the stack treats that as a crash and stops.
 */
export interface Lifeline {
  /** Resolves when the watchdog exits: after close(), or when something else ended it. */
  exited: Promise<void>;
  /** Closes the pipe: the watchdog stops whatever is still running, then exits. Idempotent. */
  close(): void;
}

const WATCHDOG = join(ROOT, "tools/stack/lifeline-watchdog.mjs");

export async function startLifeline({ graceMs = 5_000 } = {}): Promise<Lifeline> {
  const watchdog = spawn(process.execPath, [WATCHDOG, String(graceMs)], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  const exited = new Promise<void>((resolve) => watchdog.once("exit", () => resolve()));
  await once(watchdog, "spawn");
  const pipe = watchdog.stdin!;
  // A watchdog that died makes writes fail with EPIPE; `exited` already reports that.
  pipe.on("error", () => {});
  // The lifeline never keeps the launcher alive; the launcher's exit is what pulls it.
  watchdog.unref();
  (pipe as unknown as { unref(): void }).unref();

  // Subscribed after the watchdog's own spawn, which must not watch itself.
  const onChild = (message: unknown) => {
    const child = (message as { process: ChildProcess }).process;
    child.once("spawn", () => {
      if (!pipe.writableEnded) pipe.write(`${child.pid}\n`);
    });
  };
  subscribe("child_process", onChild);

  return {
    exited,
    close() {
      unsubscribe("child_process", onChild);
      pipe.end();
    },
  };
}
