import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.ts";
import { type Origin, startOrigin } from "./helpers/origin.ts";
import { authHeaders } from "./helpers/token.ts";

/**
 * The real origin process in front of a TEI stand-in (the OpenAI wire format, TEI's 413 for an input
 * over its token limit, a slow GPU): one caller's bad input or vanished client must not cost the
 * other callers of the micro-batcher anything, and a full queue sheds load instead of growing.
 */
let fake: FakeOpenAI;
let origin: Origin;
const MAX_BATCH = 32;
const MAX_QUEUE = 16;
beforeAll(async () => {
  fake = await startFakeOpenAI();
  origin = await startOrigin({
    EMBEDDINGS_BACKEND: "openai",
    EMBEDDINGS_URL: fake.url,
    EMBEDDINGS_MODEL: "bge-base-en-v1.5",
    EMBED_MAX_BATCH: String(MAX_BATCH),
    EMBED_MAX_QUEUE: String(MAX_QUEUE),
    UPSTREAM_TIMEOUT_MS: "5000",
  });
});
afterAll(async () => {
  await origin?.stop();
  await fake?.close();
});
afterEach(() => {
  fake.setMaxInputChars(Number.POSITIVE_INFINITY);
  fake.setEmbedDelay(0);
});

/** POST /v1/embed; resolves the status and the parsed body (read in full, so the connection is free). */
const embed = async (inputs: string[], init: RequestInit = {}) => {
  const response = await fetch(`${origin.url}/v1/embed`, {
    method: "POST",
    headers: await authHeaders("/v1/embed"),
    body: JSON.stringify({ inputs, kind: "query" }),
    ...init,
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Every input the backend was sent so far. */
const sentInputs = () => fake.requests.filter((r) => r.path === "/v1/embeddings").flatMap((r) => r.body.input as string[]);
/** Fills all 8 of the lane's in-flight slots with batches of MAX_BATCH: whatever comes next has to queue. */
const occupyLane = (tag: string) => embed(Array.from({ length: 8 * MAX_BATCH }, (_, i) => `${tag} filler ${i}`));
/**
 * Until the backend has all 8 of occupyLane's batches, so that they are in flight, not queued: a
 * fixed sleep was too short on a busy machine (the filler still queued, the next call was shed).
 */
const laneOccupied = (tag: string) =>
  expect
    .poll(() => sentInputs().filter((text) => text.startsWith(`${tag} filler`)).length, { timeout: 10_000, interval: 5 })
    .toBe(8 * MAX_BATCH);

describe("embedding micro-batches under failure and load", () => {
  it("error: an input the backend refuses fails only its own caller (422), not the callers batched with it", async () => {
    fake.setMaxInputChars(1000);
    fake.setEmbedDelay(150);
    const filler = occupyLane("isolation");
    await laneOccupied("isolation");
    const bad = embed(["字".repeat(1500)]);
    const good = Array.from({ length: 10 }, (_, i) => embed([`an ordinary question ${i}`]));
    const badResponse = await bad;
    expect(badResponse.status).toBe(422);
    expect(badResponse.body).toMatchObject({ status: 422, code: "INPUT_REJECTED" });
    for (const response of await Promise.all(good)) expect(response.status).toBe(200);
    expect((await filler).status).toBe(200);
    // They did share a backend call: the one the backend refused.
    const merged = fake.requests.find(
      (r) => r.path === "/v1/embeddings" && r.body.input.length > 1 && r.body.input.includes("字".repeat(1500)),
    );
    expect(merged?.body.input).toContain("an ordinary question 0");
    // A refused input is the caller's fault, not a backend failure.
    expect(await (await fetch(`${origin.url}/metrics`)).text()).not.toMatch(/origin_backend_errors_total\{backend="embeddings"/);
  });

  it("error: a caller alone with a refused input gets a 422, not a 502", async () => {
    fake.setMaxInputChars(1000);
    const response = await embed(["x".repeat(2000), "fine"]);
    expect(response.status).toBe(422);
  });

  it("happy: callers whose clients went away never reach the backend", async () => {
    fake.setEmbedDelay(400);
    const filler = occupyLane("abort");
    await laneOccupied("abort");
    const abandoned = Array.from({ length: 10 }, (_, i) =>
      embed([`abandoned ${i}`], { signal: AbortSignal.timeout(100) }).catch((err: Error) => err.name),
    );
    expect(await Promise.all(abandoned)).toEqual(Array(10).fill("TimeoutError"));
    expect((await filler).status).toBe(200);
    // The lane is free again, and a later caller is served.
    expect((await embed(["after the aborts"])).status).toBe(200);
    expect(sentInputs()).toContain("after the aborts");
    expect(sentInputs().filter((t) => t.startsWith("abandoned"))).toEqual([]);
    const metrics = await (await fetch(`${origin.url}/metrics`)).text();
    expect(metrics).toMatch(/origin_client_closed_total\{route="\/v1\/embed"\} 10/);
    expect(metrics).toMatch(/origin_http_requests_total\{method="POST",route="\/v1\/embed",status="499"\} 10/);
  });

  it("error: a full queue answers 503 OVERLOADED with Retry-After, and the queued callers are still served", async () => {
    fake.setEmbedDelay(400);
    const filler = occupyLane("shed");
    await laneOccupied("shed");
    const queued = embed(Array.from({ length: MAX_QUEUE }, (_, i) => `queued ${i}`));
    await sleep(50);
    const refused = await embed(["one too many"]);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body).toMatchObject({ status: 503, code: "OVERLOADED" });
    expect((await queued).status).toBe(200);
    expect((await filler).status).toBe(200);
    expect(sentInputs()).not.toContain("one too many");
    expect(await (await fetch(`${origin.url}/metrics`)).text()).toMatch(/origin_embed_shed_total\{kind="query"\} 1/);
  });

  it("happy: after all that, SIGTERM drains at once: idle keep-alive sockets (65 s) do not hold the exit", async () => {
    const started = performance.now();
    expect(await origin.stop()).toBe(0);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
