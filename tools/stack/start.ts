/**
 * `npm start`: the whole local stack on built-in defaults. Ctrl-C stops everything it started.
 *   PORT            worker port (default 8787)
 *   EDGE_RAG_STATE  state directory (default .wrangler/state): D1, KV, queues, the vector index, redis
 */
import { join } from "node:path";
import { ROOT } from "./paths";
import { startStack } from "./stack";

const port = Number(process.env.PORT ?? 8787);
const stateDir = process.env.EDGE_RAG_STATE ?? join(ROOT, ".wrangler/state");
const started = Date.now();

const stack = await startStack({ port, stateDir }).catch((error: Error) => {
  console.error(`\nedge-rag could not start: ${error.message}`);
  process.exit(1);
});

let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  console.error("\nstopping edge-rag…");
  await stack.stop();
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(0));
stack.crashed.then((component) => {
  console.error(`\n${component} exited unexpectedly`);
  void shutdown(1);
});

console.log(`
edge-rag is ready in ${((Date.now() - started) / 1000).toFixed(1)} s

  API        ${stack.url}        (docs: ${stack.url}/docs)
  origin     ${stack.originUrl}
  limits     ${stack.rateLimiting === "upstash-bridge" ? "Upstash REST bridge → redis-server" : "Workers rate-limiting binding (no redis-server found)"}
  state      ${stack.stateDir}

First admin credential (in another terminal):
  npx edge-rag keys create --tenant demo --roles admin

Then, for example:
  curl -s ${stack.url}/v1/me -H "Authorization: Bearer <key>"

Ctrl-C stops everything.
`);
