/**
 * `npm start`: the whole local stack on built-in defaults. Ctrl-C stops everything it started, and
 * so does any other end of this process (SIGKILL, a crash, a closed terminal): the children are
 * on the stack's lifeline (lifeline.ts), and their ports are free again within seconds.
 *   PORT            worker port (default 8787)
 *   EDGE_RAG_STATE  state directory (default .wrangler/state): D1, KV, queues, the vector index, redis
 *   --wan <profile> every remote port of the worker at a distance: near, far (src/wan/wan-profiles.ts);
 *                   WAN_<DEPENDENCY>_RTT_MS overrides one (README, Performance)
 * The terminal gets what a person needs (what starts, where it listens, what to do next); every
 * component's own output goes to `<state>/edge-rag.log`.
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./paths";
import { type Stack, startStack } from "./stack";
import { describeWan, wanWorkerVars } from "./wan";

const { values: flags } = parseArgs({ options: { wan: { type: "string" } } });
let wan: ReturnType<typeof wanWorkerVars> | undefined;
try {
  wan = flags.wan === undefined ? undefined : wanWorkerVars(flags.wan, process.env);
} catch (error) {
  console.error(`edge-rag could not start: ${(error as Error).message}`);
  process.exit(2);
}

const port = Number(process.env.PORT ?? 8787);
const stateDir = process.env.EDGE_RAG_STATE ?? join(ROOT, ".wrangler/state");
const started = Date.now();
mkdirSync(stateDir, { recursive: true });
const logFile = join(stateDir, "edge-rag.log");
appendFileSync(logFile, `\n--- npm start ${new Date().toISOString()}\n`);

/** Every line goes to the log file; the stack's own progress lines to the terminal too. */
function log(component: string, line: string) {
  appendFileSync(logFile, `[${component}] ${line}\n`);
  if (component === "stack") console.error(`[${component}] ${line}`);
}

/** The end of the log, for when something failed. */
function logTail(lines = 20): string {
  return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

let stack: Stack | undefined;
let stopping = false;
/** Stops the stack (bounded: stack.stop() returns within its deadline) and exits. */
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  console.error("\nstopping edge-rag…");
  // Still starting: exiting closes the lifeline, which stops whatever has started so far.
  await stack?.stop();
  process.exit(code);
}
// Listening from the start, so that a signal during the startup stops it too (with no listener,
// tsx's own handler would exit at once and leave the children to the lifeline).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(0));
// Output gone (the `tee` of `npm start | tee log` killed by the same Ctrl-C, a closed terminal):
// writing raised an unhandled EPIPE/EIO that crashed this process halfway through its stop. Now
// the stop carries on, or starts, without output.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => void shutdown(1));

stack = await startStack({ port, stateDir, log, workerVars: wan?.vars }).catch((error: Error) => {
  console.error(`\nedge-rag could not start: ${error.message}\n\nthe end of ${logFile}:\n${logTail()}`);
  process.exit(1);
});
stack.crashed.then((component) => {
  console.error(`\n${component} exited unexpectedly; the end of ${logFile}:\n${logTail()}`);
  void shutdown(1);
});

console.log(`
edge-rag is ready in ${((Date.now() - started) / 1000).toFixed(1)} s

  API        ${stack.url}        (docs: ${stack.url}/docs)
  console    ${stack.url}/console
  origin     ${stack.originUrl}
  limits     ${stack.rateLimiting === "upstash-bridge" ? "Upstash REST bridge → redis-server" : "Workers rate-limiting binding (no redis-server found)"}
  state      ${stack.stateDir}
  WAN        ${wan ? describeWan(wan.settings) : "none (every dependency in the colo; --wan far puts them at a distance)"}
  log        ${logFile}

First admin credential (in another terminal):
  npx edge-rag keys create --tenant demo --roles admin

Then, for example:
  curl -s ${stack.url}/v1/me -H "Authorization: Bearer <key>"

Ctrl-C stops everything.
`);
