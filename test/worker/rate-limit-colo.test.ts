import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { localVectorIndex } from "../../src/local";
import type { UpstashTransport } from "../../src/redis/upstash-redis";
import { servicesFactory } from "../../src/services";
import { bindingsWith, createKey, uniqueTenant } from "./helpers";

/**
 * The rate limiter's colo path inside workerd, against the real bridge and redis-server: every
 * Upstash round trip of these services goes through a transport the test can hold, so a response
 * that arrives while one is held did not wait on it.
 */
function heldUpstash() {
  const probe = {
    held: false,
    waiting: [] as Array<() => void>,
    release() {
      probe.held = false;
      for (const go of probe.waiting.splice(0)) go();
    },
  };
  const wrap = (inner: UpstashTransport): UpstashTransport => ({
    ...inner,
    request: async (request) => {
      if (probe.held) await new Promise<void>((resolve) => probe.waiting.push(resolve));
      return inner.request(request);
    },
  });
  const app = createApp(servicesFactory((bindings, config) => ({ vectors: localVectorIndex(bindings, config), upstashTransport: wrap })));
  return { probe, app };
}

/** Starts a request; `done` waits for what it left to waitUntil too. */
function send(app: ReturnType<typeof createApp>, bindings: object, path: string, key: string) {
  const ctx = createExecutionContext();
  const response = app.fetch(new Request(`http://localhost${path}`, { headers: { "x-api-key": key } }), bindings, ctx);
  return { response: Promise.resolve(response), done: async () => void (await waitOnExecutionContext(ctx)) };
}

const untilWaiting = async (probe: { waiting: unknown[] }) => {
  while (probe.waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
};

describe("rate limits decided in the colo (workerd)", () => {
  it("happy: a query-class request within its limits answers while its Upstash counts are held; the limit still holds", async () => {
    const { probe, app } = heldUpstash();
    const bindings = bindingsWith({ RATE_LIMIT_QUERY: "4/1h", TENANT_RATE_LIMIT_QUERY: "100/60s" });
    const { key } = await createKey(uniqueTenant("colo"), ["reader"]);
    const first = send(app, bindings, "/v1/documents", key);
    expect((await first.response).status).toBe(200);
    await first.done();
    probe.held = true;
    const second = send(app, bindings, "/v1/documents", key);
    const answered = await second.response;
    expect(answered.status).toBe(200);
    expect(answered.headers.get("ratelimit-remaining")).toBe("2");
    // Its counts (the principal's and the tenant's bucket) go after the response, and are held.
    await untilWaiting(probe);
    expect(probe.waiting.length).toBeGreaterThan(0);
    probe.release();
    await second.done();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const next = send(app, bindings, "/v1/documents", key);
      statuses.push((await next.response).status);
      await next.done();
    }
    expect(statuses).toEqual([200, 200, 429]);
  });

  it("security: an auth-class request (fails closed) waits for Upstash", async () => {
    const { probe, app } = heldUpstash();
    const bindings = bindingsWith({ RATE_LIMIT_AUTH: "4/1h" });
    const { key } = await createKey(uniqueTenant("colo-closed"), ["admin"]);
    const first = send(app, bindings, "/v1/api-keys", key);
    expect((await first.response).status).toBe(200);
    await first.done();
    probe.held = true;
    let answered = false;
    const second = send(app, bindings, "/v1/api-keys", key);
    second.response.then(() => (answered = true));
    await untilWaiting(probe);
    expect(answered).toBe(false);
    probe.release();
    expect((await second.response).headers.get("ratelimit-remaining")).toBe("2");
    await second.done();
  });
});
