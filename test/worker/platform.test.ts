import { env } from "cloudflare:test";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { isOpenAIPath } from "../../src/chat/openai-format";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, uniqueTenant } from "./helpers";
import { TEST_SECRETS } from "./secrets";

describe("health and readiness", () => {
  it("answers liveness without touching dependencies, even misconfigured", async () => {
    for (const response of [await call("/health"), await callWithEnv({ ORIGIN_URLS: "not a url", DB: undefined }, "/health")]) {
      expect(response.status).toBe(200);
      const body = await json(response);
      expect(body).toMatchObject({ status: "ok", version: expect.any(String) });
      expect(Date.parse(body.time)).not.toBeNaN();
    }
  });

  it("is ready when D1, KV, the vector index and the origin answer", async () => {
    const response = await call("/ready");
    const body = await json(response);
    expect(body.checks).toMatchObject({
      d1: { ok: true },
      kv: { ok: true },
      vector_index: { ok: true },
      origin: { ok: true, available: 1, total: 1 },
    });
    // Public: no origin URLs or index sizes.
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|http/);
    expect(response.status).toBe(200);
    expect(body.status).toBe("ready");
  });

  it("is not ready, and says which check failed, when the origin is down", async () => {
    const response = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/ready");
    expect(response.status).toBe(503);
    const body = await json(response);
    expect(body.status).toBe("unavailable");
    expect(body.checks.origin).toMatchObject({ ok: false, available: 0, total: 1 });
    expect(body.checks.d1.ok).toBe(true);
  });

  it("reports invalid configuration without revealing values", async () => {
    const response = await callWithEnv({ AUTH_JWT_SECRET: "short-secret-value" }, "/v1/me");
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text).code).toBe("CONFIG_INVALID");
    expect(text).not.toContain("short-secret-value");
  });

  it("answers 503 STORE_UNAVAILABLE, not 500, when D1 fails", async () => {
    const { key } = await createKey(uniqueTenant(), ["admin"]);
    // Fault injection over the real binding: every statement fails as D1 does in an outage.
    const failingD1 = {
      prepare: () => ({ bind: () => failingStatement, ...failingStatement }),
      batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
    };
    const failingStatement = {
      first: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
      all: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
      run: () => Promise.reject(new Error("D1_ERROR: Network connection lost.")),
    };
    const response = await callWithEnv({ DB: failingD1, API_KEY_CACHE_TTL_SECONDS: "0" }, "/v1/api-keys", { auth: key });
    expect(response.status).toBe(503);
    expect(await json(response)).toMatchObject({ code: "STORE_UNAVAILABLE" });
    expect(response.headers.get("retry-after")).toBe("5");
  });

  it("refuses a binding that shadows a configuration variable", async () => {
    const response = await callWithEnv({ RATE_LIMIT_QUERY: env.RATE_LIMITER_QUERY }, "/v1/me");
    expect(response.status).toBe(500);
    expect((await json(response)).code).toBe("CONFIG_INVALID");
  });
});

describe("problem responses", () => {
  it("answers unknown routes with a 404 problem carrying the request id", async () => {
    const response = await call("/v1/nothing-here", { headers: { "x-request-id": "trace-abc-123" } });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe("trace-abc-123");
    expect(await json(response)).toMatchObject({
      status: 404,
      code: "NOT_FOUND",
      request_id: "trace-abc-123",
      type: expect.stringMatching(/^urn:edge-rag:problem:/),
    });
  });

  it("replaces an unsafe incoming request id", async () => {
    const response = await call("/health", { headers: { "x-request-id": "bad id <script>" } });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses bodies over 64 KiB on API routes with 413 and changes nothing", async () => {
    const response = await call("/v1/auth/login", { body: { username: "x", password: "p".repeat(70 * 1024) } });
    expect(response.status).toBe(413);
    expect(await json(response)).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("never leaks a secret in any response", async () => {
    const tenant = uniqueTenant();
    const { key } = await createKey(tenant, ["admin"]);
    const bodies = await Promise.all(
      ["/v1/me", "/v1/api-keys", "/metrics", "/ready", "/openapi.json", "/v1/nothing"].map(async (path) =>
        (await call(path, { auth: key })).text(),
      ),
    );
    for (const secret of Object.values(TEST_SECRETS)) for (const body of bodies) expect(body).not.toContain(secret);
  });
});

describe("CORS", () => {
  it("allows only configured origins, never a wildcard", async () => {
    const allowed = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/health", {
      headers: { origin: "https://app.example.com" },
    });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    const denied = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/health", {
      headers: { origin: "https://evil.example.com" },
    });
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/v1/query", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    // A browser MCP client sends mcp-protocol-version on every request after initialize.
    const mcpPreflight = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/mcp", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,mcp-protocol-version",
      },
    });
    expect(mcpPreflight.headers.get("access-control-allow-headers")).toContain("mcp-protocol-version");
  });

  it("lets a browser's OpenAI SDK through the preflight of /v1/chat/completions, every header it sends allowed", async () => {
    // The headers the real SDK sends (plain and through its streaming helper), taken from its own requests.
    const sent = new Set<string>();
    const client = new OpenAI({
      apiKey: "erk_test",
      baseURL: "https://edge-rag.example.com/v1",
      organization: "org-1",
      project: "proj-1",
      maxRetries: 0,
      fetch: async (_url: RequestInfo | URL, init?: RequestInit) => {
        for (const name of new Headers(init?.headers).keys()) sent.add(name);
        const choices = [{ index: 0, delta: { role: "assistant", content: "ok" }, finish_reason: "stop", logprobs: null }];
        const data = { id: "c", object: "chat.completion.chunk", created: 0, model: "edge-rag", choices };
        return new Response(`data: ${JSON.stringify(data)}\n\ndata: [DONE]\n\n`, { headers: { "content-type": "text/event-stream" } });
      },
    });
    const params = { model: "edge-rag", messages: [{ role: "user" as const, content: "hi" }] };
    for await (const _ of await client.chat.completions.create({ ...params, stream: true }));
    await client.chat.completions.stream(params).done();
    expect([...sent].filter((name) => name.startsWith("x-stainless-")).length).toBeGreaterThanOrEqual(8);
    expect(sent).toContain("x-stainless-helper-method");
    expect(sent).toContain("openai-organization");

    const preflight = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/v1/chat/completions", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": [...sent].join(","),
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const allowed = new Set(
      preflight.headers
        .get("access-control-allow-headers")!
        .split(",")
        .map((name) => name.trim().toLowerCase()),
    );
    // What a browser sets itself (user-agent, content-length) needs no permission; everything else must be listed.
    const needed = [...sent].filter((name) => !["user-agent", "content-length"].includes(name));
    expect(needed.filter((name) => !allowed.has(name))).toEqual([]);
  });
});

describe("OpenAPI", () => {
  it("publishes an OpenAPI 3.1 document covering the API and a page that renders it", async () => {
    const doc = await json(await call("/openapi.json"));
    expect(doc.openapi).toBe("3.1.0");
    for (const path of [
      "/health",
      "/ready",
      "/v1/me",
      "/v1/auth/login",
      "/v1/auth/token",
      "/v1/api-keys",
      "/v1/api-keys/{id}",
      "/metrics",
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const page = await call("/docs");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/openapi.json");
  });
});

describe("OpenAPI: every status a route answers is documented (error)", () => {
  type Operation = { security?: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> };
  let doc: { paths: Record<string, Record<string, Operation>> };
  beforeAll(async () => {
    doc = await json(await call("/openapi.json"));
  });
  /** Fails unless the document lists this response's status for the operation, with its media type. */
  const expectDocumented = (path: string, method: string, response: Response) => {
    const documented = doc.paths[path]![method]!.responses[String(response.status)];
    expect(documented, `${method} ${path} → ${response.status}`).toBeDefined();
    const type = response.headers.get("content-type")!.split(";")[0]!;
    expect(Object.keys(documented!.content ?? {}), `${method} ${path} → ${response.status} ${type}`).toContain(type);
  };
  const authenticated = () =>
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => operation.security?.length !== 0)
        .map(([method, operation]) => ({ path, method, operation, url: path.replace("{id}", "x") })),
    );

  it("AMBIGUOUS_CREDENTIALS (400) on every authenticated operation", async () => {
    const both = { authorization: "Bearer erk_0123456789abcdef_x", "x-api-key": "erk_0123456789abcdef_x" };
    expect(authenticated().length).toBeGreaterThan(15);
    for (const { path, method, url } of authenticated()) {
      const response = await call(url, { method: method.toUpperCase(), headers: both });
      const body = await json(response.clone());
      // The OpenAI-compatible routes carry the code in OpenAI's error body, lower-cased.
      expect(isOpenAIPath(path) ? body.error.code : body.code).toBe(isOpenAIPath(path) ? "ambiguous_credentials" : "AMBIGUOUS_CREDENTIALS");
      expectDocumented(path, method, response);
    }
  });

  it("503 on every authenticated operation and login, when the store is down", async () => {
    const { key } = await createKey(uniqueTenant(), ["admin"]);
    const down = () => Promise.reject(new Error("D1_ERROR: Network connection lost."));
    const statement = { first: down, all: down, run: down, raw: down };
    const failing = { DB: { prepare: () => ({ bind: () => statement, ...statement }), batch: down }, API_KEY_CACHE_TTL_SECONDS: "0" };
    const calls = [
      ...authenticated().map(({ path, method, url }) => ({ path, method, url, options: { auth: key } })),
      { path: "/v1/auth/login", method: "post", url: "/v1/auth/login", options: { body: { username: "someone", password: "x" } } },
    ];
    for (const { path, method, url, options } of calls) {
      const response = await callWithEnv(failing, url, { method: method.toUpperCase(), ...options });
      expect(response.status, `${method} ${path}`).toBe(503);
      expectDocumented(path, method, response);
    }
  });

  it("/mcp's transport refusals are JSON-RPC errors (application/json), documented as such", async () => {
    const { key } = await createKey(uniqueTenant(), ["reader"]);
    const accept = "application/json, text/event-stream";
    const notJson = await call("/mcp", { auth: key, body: "{}", headers: { "content-type": "text/plain", accept } });
    expect(notJson.status).toBe(415);
    expectDocumented("/mcp", "post", notJson);
    const notMessage = await call("/mcp", { auth: key, body: "null", headers: { accept } });
    expect(notMessage.status).toBe(400);
    expectDocumented("/mcp", "post", notMessage);
    const malformed = await call("/mcp", { auth: key, body: "{", headers: { accept } });
    expect(malformed.headers.get("content-type")).toBe("application/problem+json");
    expectDocumented("/mcp", "post", malformed);
  });

  it("no operation without a body documents 413 or 415", () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods as Record<string, Operation & { requestBody?: unknown }>)) {
        if (operation.requestBody) continue;
        expect(Object.keys(operation.responses), `${method} ${path}`).not.toContain("413");
        expect(Object.keys(operation.responses), `${method} ${path}`).not.toContain("415");
      }
    }
  });
});

describe("metrics", () => {
  it("serves Prometheus text to operators and to the scrape token, not to others", async () => {
    const tenant = uniqueTenant();
    const admin = await createKey(tenant, ["admin"]);
    const reader = await createKey(tenant, ["reader"]);
    await call("/v1/me", { auth: reader.key });
    const byAdmin = await callWithEnv({ OPERATOR_TENANT: tenant }, "/metrics", { auth: admin.key });
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.headers.get("content-type")).toContain("text/plain");
    const text = await byAdmin.text();
    expect(text).toContain("# TYPE edge_rag_http_requests_total counter");
    expect(text).toMatch(/edge_rag_http_requests_total\{method="GET",route="\/v1\/me",status="200"\} \d+/);
    expect(text).toContain("edge_rag_http_request_duration_ms_bucket");
    expect((await call("/metrics", { auth: TEST_SECRETS.METRICS_SCRAPE_TOKEN })).status).toBe(200);
    expect((await call("/metrics", { auth: reader.key })).status).toBe(403);
    expect((await callWithEnv({ OPERATOR_TENANT: tenant }, "/metrics", { auth: reader.key })).status).toBe(403);
    expect((await call("/metrics")).status).toBe(401);
  });

  it("security: any tenant's admin is refused: metrics cover every tenant's traffic", async () => {
    const admin = await createKey(uniqueTenant(), ["admin"]);
    expect((await call("/metrics", { auth: admin.key })).status).toBe(403);
    expect((await callWithEnv({ OPERATOR_TENANT: uniqueTenant("ops") }, "/metrics", { auth: admin.key })).status).toBe(403);
  });
});

describe("rate limits", () => {
  it("limits per principal through Upstash Redis with RateLimit headers and a 429 with Retry-After", async () => {
    const tenant = uniqueTenant();
    const admin = await createKey(tenant, ["admin"]);
    const other = await createKey(tenant, ["admin"]);
    const limited = { RATE_LIMIT_AUTH: "2/1h" };
    const first = await callWithEnv(limited, "/v1/api-keys", { auth: admin.key });
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-limit")).toBe("2");
    expect(first.headers.get("ratelimit-remaining")).toBe("1");
    expect(Number(first.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
    expect((await callWithEnv(limited, "/v1/api-keys", { auth: admin.key })).status).toBe(200);
    const blocked = await callWithEnv(limited, "/v1/api-keys", { auth: admin.key });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(blocked.headers.get("ratelimit-remaining")).toBe("0");
    expect(await json(blocked)).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    // Another principal has its own budget.
    expect((await callWithEnv(limited, "/v1/api-keys", { auth: other.key })).status).toBe(200);
  });

  it("charges a batch one unit per query", async () => {
    const { key } = await createKey(uniqueTenant(), ["reader"]);
    const limited = { RATE_LIMIT_QUERY: "5/1h" };
    const batch = (n: number) => ({ queries: Array.from({ length: n }, (_, i) => ({ query: `question ${i}`, mode: "keyword" })) });
    const first = await callWithEnv(limited, "/v1/query/batch", { auth: key, body: batch(3) });
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-remaining")).toBe("2");
    const second = await callWithEnv(limited, "/v1/query/batch", { auth: key, body: batch(3) });
    expect(second.status).toBe(429);
  });

  it("charges only valid requests: a 400 leaves RateLimit-Remaining where it was", async () => {
    const tenant = uniqueTenant("charge-valid");
    const { key } = await createKey(tenant, ["writer"]);
    const { key: admin } = await createKey(tenant, ["admin"]);
    const limited = { RATE_LIMIT_QUERY: "20/1h", RATE_LIMIT_INGEST: "20/1h", RATE_LIMIT_AUTH: "20/1h", ORIGIN_URLS: DEAD_ORIGIN };
    const remaining = async (path: string, options: { auth: string; method?: string }) =>
      (await callWithEnv(limited, path, options)).headers.get("ratelimit-remaining");
    const refused = async (path: string, options: { auth: string; method?: string; body?: unknown }) =>
      expect((await callWithEnv(limited, path, options)).status, `${options.method ?? "GET"} ${path}`).toBe(400);
    const cases = [
      {
        charged: () => remaining("/v1/documents", { auth: key }),
        invalid: async () => {
          await refused("/v1/query", { auth: key, body: { query: "" } });
          await refused("/v1/query", { auth: key, body: { query: "fire", stream: true, top_k: 0 } });
          await refused("/v1/search", { auth: key, body: { query: "fire", top_k: 0 } });
          await refused("/v1/documents?limit=0", { auth: key });
          await refused("/v1/documents/%20", { auth: key });
          await refused("/v1/jobs/not-a-job", { auth: key });
        },
      },
      {
        charged: () => remaining("/v1/documents/never-stored", { auth: key, method: "DELETE" }),
        invalid: () => refused("/v1/documents/%20", { auth: key, method: "DELETE" }),
      },
      {
        charged: () => remaining("/v1/api-keys", { auth: admin }),
        invalid: async () => {
          await refused("/v1/api-keys", { auth: admin, body: { name: "", roles: [] } });
          await refused("/v1/api-keys/NOT-AN-ID", { auth: admin, method: "DELETE" });
        },
      },
    ];
    for (const { charged, invalid } of cases) {
      const before = Number(await charged());
      await invalid();
      expect(Number(await charged())).toBe(before - 1);
    }
  });

  it("limits password guessing per client IP across usernames", async () => {
    const limited = { RATE_LIMIT_LOGIN_IP: "3/1h" };
    const ip = `198.51.100.${Math.floor(Math.random() * 250)}`;
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const response = await callWithEnv(limited, "/v1/auth/login", {
        body: { username: `guess-${crypto.randomUUID()}`, password: "x" },
        headers: { "cf-connecting-ip": ip },
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it("falls back to the Workers rate-limiting binding when no Upstash is configured", async () => {
    const { key } = await createKey(uniqueTenant(), ["admin"]);
    const noRedis = { UPSTASH_REDIS_REST_URL: undefined, UPSTASH_REDIS_REST_TOKEN: undefined };
    const statuses: number[] = [];
    let headers: Headers | undefined;
    for (let i = 0; i < 12; i++) {
      const response = await callWithEnv(noRedis, "/v1/api-keys", { auth: key });
      statuses.push(response.status);
      headers ??= response.headers;
    }
    // wrangler.toml gives the auth class 10 requests a minute.
    expect(statuses.slice(0, 10).every((status) => status === 200)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
    expect(headers!.get("ratelimit-limit")).toBe("10");
    expect(headers!.get("ratelimit-remaining")).toBeNull();
  });

  it("fails closed or open per route class when Redis is unreachable, and counts it", async () => {
    const tenant = uniqueTenant();
    const { key } = await createKey(tenant, ["admin"]);
    const deadRedis = { UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9" };
    const closed = await callWithEnv({ ...deadRedis, RATE_LIMIT_FAIL_OPEN: "query" }, "/v1/api-keys", { auth: key });
    expect(closed.status).toBe(503);
    expect(await json(closed)).toMatchObject({ code: "RATE_LIMITER_UNAVAILABLE" });
    const open = await callWithEnv({ ...deadRedis, RATE_LIMIT_FAIL_OPEN: "query,auth" }, "/v1/api-keys", { auth: key });
    expect(open.status).toBe(200);
    expect(open.headers.get("ratelimit-limit")).toBeNull();
  });
});
