import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { createAppShell } from "../../src/app-shell";
import { localServices } from "../../src/local";
import { renderMetrics } from "../../src/metrics";
import { createWorker, EAGER_PATHS, eagerRouteGroups } from "../../src/worker";
import { createKey, json, uniqueTenant } from "./helpers";

/**
 * The worker serves the query routes from an eager app and loads every other route group on first
 * use (src/worker.ts). Both are the same shell: these check that the split changes nothing a client
 * or an operator sees.
 */

type App = ReturnType<typeof createAppShell>;
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** A concrete path a route pattern matches: `/v1/jobs/:id` → `/v1/jobs/x`, `/v1/*` → `/v1/x`. */
const samplePath = (pattern: string) => pattern.replace(/:\w+(\{[^}]*\})?|\*/g, "x");

/** What the router runs for a request, as `METHOD pattern` of each handler and middleware in order. */
function chain(app: App, method: string, path: string): string[] {
  const [matches] = app.router.match(method, path) as unknown as [Array<[[unknown, { method: string; path: string }], unknown]>];
  return matches.map(([[, route]]) => `${route.method} ${route.path}`);
}

describe("lazily loaded route groups", () => {
  it("EAGER_PATHS sends nothing to the eager app that the whole API would route differently", () => {
    const whole = createApp(localServices);
    const eager = createAppShell(localServices, eagerRouteGroups());
    const eagerSamples = new Set(
      [...whole.routes, ...eager.routes].map((route) => samplePath(route.path)).filter((path) => EAGER_PATHS.test(path)),
    );
    expect([...eagerSamples]).toEqual(expect.arrayContaining(["/health", "/ready", "/v1/query", "/v1/search", "/console", "/docs/x"]));
    for (const path of eagerSamples)
      for (const method of METHODS) expect(chain(eager, method, path), `${method} ${path}`).toEqual(chain(whole, method, path));
  });

  it("the query routes are served eagerly; every other group is not", () => {
    const eager = createAppShell(localServices, eagerRouteGroups());
    for (const route of eager.routes.filter((r) => r.method !== "ALL"))
      expect(EAGER_PATHS.test(samplePath(route.path)), route.path).toBe(true);
    for (const path of [
      "/v1/query/batch",
      "/v1/me",
      "/v1/api-keys",
      "/v1/documents",
      "/v1/jobs/x",
      "/v1/stats",
      "/v1/cache",
      "/metrics",
      "/mcp",
      "/openapi.json",
      "/v1/auth/token",
    ])
      expect(EAGER_PATHS.test(path), path).toBe(false);
  });

  it("happy: a fresh worker answers its first request to a lazy group, with the route's metrics label", async () => {
    const tenant = uniqueTenant();
    const { key } = await createKey(tenant, ["writer"]);
    const worker = createWorker(localServices);
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`http://edge-rag.test/v1/jobs/job_${"0".repeat(32)}`, { headers: { authorization: `Bearer ${key}` } }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    // The lazy group's own error, rendered by the one problem renderer with the shell's request id.
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = await json(response);
    expect(problem.code).toBe("NOT_FOUND");
    expect(problem.request_id).toBe(response.headers.get("x-request-id"));
    expect(renderMetrics()).toMatch(/edge_rag_http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} \d+/);

    const me = await worker.fetch(new Request("http://edge-rag.test/v1/me", { headers: { authorization: `Bearer ${key}` } }), env, ctx);
    expect(me.status).toBe(200);
    expect((await json(me)).tenant).toBe(tenant);
  });

  it("error: the shell's middleware runs before a lazy group as before an eager one (401, 413 as problems)", async () => {
    const worker = createWorker(localServices);
    const ctx = createExecutionContext();
    const anonymous = await worker.fetch(new Request("http://edge-rag.test/v1/api-keys"), env, ctx);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toBe("application/problem+json");
    const tooLarge = await worker.fetch(
      new Request("http://edge-rag.test/v1/query/batch", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "x".repeat(65 * 1024),
      }),
      env,
      ctx,
    );
    expect(tooLarge.status).toBe(413);
    expect((await json(tooLarge)).code).toBe("PAYLOAD_TOO_LARGE");
    await waitOnExecutionContext(ctx);
  });
});
