import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { STREAM_IDLE_TIMEOUT_MS } from "../../src/answer/generate-answer";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import { localServices } from "../../src/local";
import { createOrigins, ingestTimeoutMs } from "../../src/origin/origin-client";
import { bindingsWith, callWithEnv, createKey, json, uniqueTenant } from "./helpers";
import { indexFixture, QUESTIONS } from "./query-fixtures";

/**
 * Origin failover, the circuit breaker and streams that lose their origin, with real origin
 * processes: the first origin of ORIGIN_URLS is a second origin process that only this suite uses
 * (the global setup starts it, with a slow OpenAI-compatible chat server as its generation
 * backend); the tests stop, kill (SIGKILL), pause (SIGSTOP: it stops answering while its port
 * still accepts) and restart it through the global setup's control server. The second origin is
 * the suite's shared one, which stays up.
 *
 * The breakers are per isolate and keyed by origin URL, and each scenario needs a fresh one: each
 * uses its own alias of the controlled origin, `<origin>/<scenario>` (the client resolves its
 * absolute paths against the origin URL, so every alias reaches the same process). Searches send
 * `cache: false`, so that no cache (answers, search results, query embeddings) answers for them.
 */

const failover = inject("failover");
const controlled = failover.originUrl;
const backup = inject("originUrl");
const alias = (scenario: string) => `${controlled}/${scenario}`;

const tenant = uniqueTenant("failover");
let key = "";

beforeAll(async () => {
  // A previous run in the same session (watch mode) may have left it stopped.
  await control("start");
  ({ key } = await createKey(tenant, ["reader"]));
  await indexFixture(tenant);
}, 60_000);

// ── The control server and the controlled origin ──────────────────────────────────────────────

async function control(action: "start" | "stop" | "kill" | "pause" | "resume"): Promise<{ state: string }> {
  const response = await fetch(`${failover.controlUrl}/origin/${action}`, { method: "POST" });
  expect(response.status, `control ${action}`).toBe(200);
  return json(response);
}

async function slowLlm(behaviour: { firstTokenDelayMs?: number; tokenIntervalMs?: number; tokens?: number }): Promise<void> {
  const response = await fetch(`${failover.controlUrl}/llm`, { method: "POST", body: JSON.stringify(behaviour) });
  await response.body?.cancel();
}

async function llmStats(): Promise<{ completions: number; waiting: number; streaming: number }> {
  return json(await fetch(`${failover.controlUrl}/llm`));
}

/** The controlled origin's own count of query embeddings (its Prometheus counters start at 0 with the process). */
async function originMetrics(): Promise<{ queries: number; inFlight: number }> {
  const text = await (await fetch(`${controlled}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return { queries: value(/^origin_embed_inputs_total\{kind="query"\} (\d+)/m), inFlight: value(/^origin_http_requests_in_flight (\d+)/m) };
}

/** Once the origin has worked through what reached it while paused: the count, stable, with nothing but this scrape in flight. */
async function settledQueryCount(): Promise<number> {
  let last = await originMetrics();
  const settled = await waitFor(
    "the origin's query count to settle",
    async () => {
      await sleep(250);
      const next = { previous: last.queries, ...(await originMetrics()) };
      last = next;
      return next;
    },
    (next) => next.queries === next.previous && next.inFlight <= 1,
  );
  return settled.queries;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ── The worker, with a scenario's origin configuration ────────────────────────────────────────

type Overrides = Record<string, string>;

/** A hybrid search past every cache; the semantic question needs dense retrieval to be found. */
async function search(overrides: Overrides) {
  // cache: false: every search must reach the origins (the query cache and the embedding cache bypassed).
  const response = await callWithEnv(overrides, "/v1/search", { auth: key, body: { query: QUESTIONS.semantic.query, cache: false } });
  expect(response.status).toBe(200);
  return json(response);
}

/** Each origin's readiness and circuit state, as the worker's origin client sees them. */
async function circuits(overrides: Overrides): Promise<Record<string, { ok: boolean; circuit: string }>> {
  const states = await createOrigins(loadConfig({ ...env, ...overrides })).probe();
  return Object.fromEntries(states.map(({ url, ok, circuit }) => [url, { ok, circuit }]));
}

async function readiness(overrides: Overrides) {
  const response = await callWithEnv(overrides, "/ready");
  return { status: response.status, origin: (await json(response)).checks.origin };
}

function expectDenseAnswer(result: {
  results: Array<{ document_id: string }>;
  metadata: { degraded: boolean; degraded_reasons: string[] };
}) {
  expect(result.metadata).toMatchObject({ degraded: false, degraded_reasons: [] });
  expect(result.results[0]?.document_id).toBe(QUESTIONS.semantic.document);
}

// ── Failover and the circuit breaker ──────────────────────────────────────────────────────────

describe("ingest timeouts (happy)", () => {
  it("give every 100,000 characters of an ingest call the configured time, up to 10 minutes", () => {
    const text = (chars: number) => ({ text: "x".repeat(chars) });
    expect(ingestTimeoutMs(60_000, [text(10)])).toBe(60_000);
    expect(ingestTimeoutMs(60_000, [text(60_000), text(40_000)])).toBe(60_000);
    expect(ingestTimeoutMs(60_000, [text(100_001)])).toBe(120_000);
    expect(ingestTimeoutMs(60_000, [text(1_000_000)])).toBe(600_000);
    expect(ingestTimeoutMs(120_000, [text(1_000_000)])).toBe(600_000);
  });
});

describe("origin failover (happy)", () => {
  it("asks the first origin while it is up", async () => {
    const overrides = { ORIGIN_URLS: `${alias("healthy")},${backup}` };
    const before = (await originMetrics()).queries;
    expectDenseAnswer(await search(overrides));
    expect((await originMetrics()).queries).toBe(before + 1);
    expect(await readiness(overrides)).toMatchObject({ status: 200, origin: { ok: true, available: 2, total: 2 } });
  });

  it("answers from the second origin while the first is stopped; the breaker opens after ORIGIN_FAILURE_THRESHOLD failures, " +
    "probes half-open after ORIGIN_COOLDOWN_MS, reopens on a failed probe and closes once the origin is back", async () => {
    const first = alias("stopped");
    const overrides = { ORIGIN_URLS: `${first},${backup}`, ORIGIN_FAILURE_THRESHOLD: "2", ORIGIN_COOLDOWN_MS: "3000" };
    expect((await control("stop")).state).toBe("stopped");

    // Failure 1 of 2: the second origin answers, the circuit stays closed.
    expectDenseAnswer(await search(overrides));
    expect(await circuits(overrides)).toEqual({ [first]: { ok: false, circuit: "closed" }, [backup]: { ok: true, circuit: "closed" } });
    // /ready counts the origins that answer: one of two is enough to be ready.
    expect(await readiness(overrides)).toMatchObject({ status: 200, origin: { ok: true, available: 1, total: 2 } });

    // Failure 2 of 2: open.
    expectDenseAnswer(await search(overrides));
    expect((await circuits(overrides))[first]).toEqual({ ok: false, circuit: "open" });

    // After the cooldown one probe request is let through; it fails (the origin is still down),
    // which opens the circuit again at once, not after another ORIGIN_FAILURE_THRESHOLD.
    await waitFor(
      "half-open",
      () => circuits(overrides),
      (states) => states[first]!.circuit === "half-open",
    );
    expectDenseAnswer(await search(overrides));
    expect((await circuits(overrides))[first]!.circuit).toBe("open");

    // Restarted (a fresh process: its counters start at 0). The next probe after the cooldown
    // reaches it, succeeds and closes the circuit.
    expect((await control("start")).state).toBe("running");
    await waitFor(
      "half-open",
      () => circuits(overrides),
      (states) => states[first]!.circuit === "half-open",
    );
    expect((await originMetrics()).queries).toBe(0);
    expectDenseAnswer(await search(overrides));
    expect((await originMetrics()).queries).toBe(1);
    expect((await circuits(overrides))[first]).toEqual({ ok: true, circuit: "closed" });
    expect(await readiness(overrides)).toMatchObject({ status: 200, origin: { ok: true, available: 2, total: 2 } });
  }, 60_000);

  it("cuts a first origin that stops answering at ORIGIN_EMBED_TIMEOUT_MS and fails over; while its circuit is open it is not " +
    "asked at all, even once it answers again", async () => {
    const first = alias("slow");
    const timeoutMs = 750;
    const overrides = {
      ORIGIN_URLS: `${first},${backup}`,
      ORIGIN_EMBED_TIMEOUT_MS: String(timeoutMs),
      ORIGIN_FAILURE_THRESHOLD: "2",
      ORIGIN_COOLDOWN_MS: "5000",
    };
    await control("start");
    expect((await control("pause")).state).toBe("paused");

    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const started = Date.now();
      const result = await search(overrides);
      // It waited for the first origin until its timeout, then the second answered.
      expectDenseAnswer(result);
      expect(result.metadata.timings_ms.embed).toBeGreaterThanOrEqual(timeoutMs);
      expect(Date.now() - started).toBeGreaterThanOrEqual(timeoutMs);
    }

    // It answers again, but its circuit (two timeouts) is open: searches skip it.
    expect((await control("resume")).state).toBe("running");
    const queries = await settledQueryCount();
    expect(await circuits(overrides)).toEqual({ [first]: { ok: true, circuit: "open" }, [backup]: { ok: true, circuit: "closed" } });
    expectDenseAnswer(await search(overrides));
    expect((await originMetrics()).queries).toBe(queries);

    // After the cooldown, the probe request reaches it and closes the circuit.
    await waitFor(
      "half-open",
      () => circuits(overrides),
      (states) => states[first]!.circuit === "half-open",
    );
    expectDenseAnswer(await search(overrides));
    expect((await originMetrics()).queries).toBe(queries + 1);
    expect((await circuits(overrides))[first]!.circuit).toBe("closed");
  }, 60_000);
});

// ── Streams that lose their origin ────────────────────────────────────────────────────────────

interface SseEvent {
  event: string;
  data: string;
}

/** A streamed /v1/query, read event by event as it arrives (parsed independently of the worker's code). */
async function openStream(overrides: Overrides, query: string, options: { cache: boolean } = { cache: false }) {
  const ctx = createExecutionContext();
  const request = new Request("http://edge-rag.test/v1/query", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ query, top_k: 3, stream: true, cache: options.cache }),
  });
  const response = await createApp(localServices).fetch(request, bindingsWith(overrides), ctx);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const seen: SseEvent[] = [];
  let buffer = "";
  let ended = false;
  /** The next event, or undefined once the stream has ended. */
  const next = async (): Promise<SseEvent | undefined> => {
    for (;;) {
      const boundary = buffer.indexOf("\n\n");
      if (boundary !== -1) {
        const block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        const lines = block.split("\n");
        const event = {
          event:
            lines
              .find((line) => line.startsWith("event:"))
              ?.slice(6)
              .trim() ?? "message",
          data: lines
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trimStart())
            .join("\n"),
        };
        seen.push(event);
        return event;
      }
      if (ended) return undefined;
      const { done, value } = await reader.read();
      if (done) ended = true;
      else buffer += value;
    }
  };
  return {
    seen,
    next,
    /** Reads to the end. */
    async rest(): Promise<void> {
      while (await next());
      await waitOnExecutionContext(ctx);
    },
  };
}

describe("streamed answers when the origin dies (error)", () => {
  it("ends with an `error` event when the origin is killed after it sent tokens", async () => {
    await control("start");
    await slowLlm({ firstTokenDelayMs: 0, tokenIntervalMs: 200, tokens: 150 });
    // With the query cache on: an answer that broke off must not be stored.
    const query = `${QUESTIONS.bees.query} (${crypto.randomUUID().slice(0, 8)})`;
    const stream = await openStream({ ORIGIN_URLS: `${alias("mid-stream")},${backup}` }, query, { cache: true });
    let event = await stream.next();
    while (event && event.event !== "token") event = await stream.next();
    // A token of the slow model: the origin's generation, in the middle of its answer.
    expect(event?.data).toContain("The");

    expect((await control("kill")).state).toBe("stopped");
    await stream.rest();

    const events = stream.seen.map((seen) => seen.event);
    expect(events[0]).toBe("sources");
    expect(events.at(-1)).toBe("error");
    expect(events).not.toContain("done");
    // The broken connection ended it, not the idle timer (which ends a stream as ORIGIN_TIMEOUT).
    expect(JSON.parse(stream.seen.at(-1)!.data)).toMatchObject({ status: 502, code: "ORIGIN_STREAM_FAILED" });

    const again = await callWithEnv({ ORIGIN_URLS: backup }, "/v1/query", { auth: key, body: { query, top_k: 3 } });
    expect((await json(again)).metadata.cache).toBe("miss");
  }, 60_000);

  it("falls back before the first token: to the second origin when there is one, else to the edge's answer (`done`, degraded)", async () => {
    await control("start");
    // Every answer waits for its first token until the origin is gone.
    await slowLlm({ firstTokenDelayMs: 30_000 });
    const before = (await llmStats()).completions;
    const opened = Date.now();
    const alone = await openStream({ ORIGIN_URLS: alias("before-first-token") }, QUESTIONS.fire.query);
    const withSecond = await openStream({ ORIGIN_URLS: `${alias("before-first-token-failover")},${backup}` }, QUESTIONS.fire.query);
    // Both answers are at the origin, which waits for its model's first token.
    await waitFor("two answers waiting", llmStats, (stats) => stats.completions >= before + 2 && stats.waiting >= 2);

    expect((await control("kill")).state).toBe("stopped");
    await Promise.all([alone.rest(), withSecond.rest()]);
    // Both origin streams were silent since they opened, so the idle timer could not have ended
    // them sooner than STREAM_IDLE_TIMEOUT_MS after `opened`: ending before that, the kill did.
    expect(Date.now() - opened).toBeLessThan(STREAM_IDLE_TIMEOUT_MS);

    for (const stream of [alone, withSecond]) {
      const events = stream.seen.map((seen) => seen.event);
      expect(events[0]).toBe("sources");
      expect(events.at(-1)).toBe("done");
      expect(events).not.toContain("error");
      const answer = stream.seen
        .filter((seen) => seen.event === "token")
        .map((seen) => JSON.parse(seen.data).text)
        .join("");
      expect(answer).toContain(QUESTIONS.fire.answer);
    }
    // The second origin answered (its extractive generator): not degraded.
    expect(JSON.parse(withSecond.seen.at(-1)!.data)).toMatchObject({ degraded: false, degraded_reasons: [] });
    // No second origin: the edge answered from the sources.
    expect(JSON.parse(alone.seen.at(-1)!.data)).toMatchObject({ degraded: true, degraded_reasons: ["generation_unavailable"] });
  }, 60_000);
});
