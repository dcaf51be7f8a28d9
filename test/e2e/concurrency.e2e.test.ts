import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../tools/lib/ports";
import { type Stack, startStack } from "../../tools/stack/stack";
import { createKeyOnStack, ingestAndWait } from "./stack-client";

/**
 * Concurrent requests as separate HTTP requests to `wrangler dev` (the worker tests call the worker
 * from one test context, where objects shared between requests cannot show the problem): each
 * request has its own I/O context, as in production, so anything an isolate shares between
 * requests — a client that batches several requests' commands into one fetch, a promise that one
 * request's I/O resolves — fails here as it would in production (a 500, "Cannot perform I/O on
 * behalf of a different request", or a request the runtime cancels as hung).
 * The race needs bad timing: this run did not reproduce the 500s that `npm run bench`'s load soak
 * saw on a saturated machine before the shared pending promises were removed (a tenant-state read,
 * an answer computation, Upstash auto-pipelining); it guards the common case on every CI run.
 */
const UNLIMITED = "100000000/60s";
const CONCURRENCY = 16;
const REQUESTS = 480;
const QUESTIONS = ["How do glaciers form?", "Who built the lighthouse?", "What carves U-shaped valleys?", "Where did the stones go?"];

let stack: Stack;
let stateDir: string;
let key: string;
const workerLines: string[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "edge-rag-concurrency-"));
  stack = await startStack({
    port: await freePort(),
    stateDir,
    log: (component, line) => {
      if (component === "worker") workerLines.push(line);
    },
    workerVars: {
      RATE_LIMIT_QUERY: UNLIMITED,
      TENANT_RATE_LIMIT_QUERY: UNLIMITED,
      RATE_LIMIT_INGEST: UNLIMITED,
      TENANT_RATE_LIMIT_INGEST: UNLIMITED,
    },
  });
  key = await createKeyOnStack(stateDir, "concurrency", "writer");
  await ingestAndWait(stack.url, key, [
    {
      id: "glaciers",
      text: "A glacier forms where more snow falls than melts, year after year. Its ice flows downhill and carves U-shaped valleys.",
    },
    {
      id: "lighthouse",
      text: "The Lighthouse of Alexandria was built under the Ptolemaic kings. Its stones were reused in the Citadel of Qaitbay.",
    },
  ]);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe("concurrent requests, each in its own I/O context (security)", () => {
  it(`${REQUESTS} queries, searches and reads at concurrency ${CONCURRENCY}, the same new questions at once: no 5xx, no cross-request I/O`, async () => {
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const statuses: Record<number, number> = {};
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          // A new question every few requests: concurrent identical misses, then hits.
          const question = `${QUESTIONS[i % QUESTIONS.length]} (${Math.floor(i / 8)})`;
          const response =
            i % 3 === 2
              ? await fetch(`${stack.url}/v1/me`, { headers })
              : await fetch(`${stack.url}${i % 3 === 0 ? "/v1/query" : "/v1/search"}`, {
                  method: "POST",
                  headers,
                  body: JSON.stringify({ query: question }),
                });
          await response.arrayBuffer();
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        }
      }),
    );
    expect(statuses).toEqual({ 200: REQUESTS });
    expect(workerLines.filter((line) => /different request|had hung/.test(line))).toEqual([]);
  }, 300_000);
});
