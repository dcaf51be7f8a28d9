import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbedResponseSchema, GenerateResponseSchema } from "../../src/shared/origin-contract.ts";
import { FAKE_ANSWER, FAKE_COMPLETION_TOKENS, type FakeMode, type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.ts";
import { type Origin, startOrigin } from "./helpers/origin.ts";
import { authHeaders } from "./helpers/token.ts";

/** The real origin process on its OpenAI-compatible backends, pointed at the local test server. */
let fake: FakeOpenAI;
let origin: Origin;
beforeAll(async () => {
  fake = await startFakeOpenAI();
  origin = await startOrigin({
    EMBEDDINGS_BACKEND: "openai",
    EMBEDDINGS_URL: fake.url,
    EMBEDDINGS_MODEL: "bge-base-en-v1.5",
    EMBEDDINGS_API_KEY: "embed-key-do-not-log",
    GENERATION_BACKEND: "openai",
    GENERATION_URL: fake.url,
    GENERATION_MODEL: "qwen2.5-7b-instruct",
    GENERATION_API_KEY: "gen-key-do-not-log",
    UPSTREAM_TIMEOUT_MS: "400",
  });
});
afterAll(async () => {
  await origin?.stop();
  await fake?.close();
});

const contexts = [
  { id: "a", text: "The Denver Broncos won Super Bowl 50." },
  { id: "b", text: "It was reported widely." },
];
const post = async (path: string, body: unknown) =>
  fetch(`${origin.url}${path}`, { method: "POST", headers: await authHeaders(path), body: JSON.stringify(body) });
async function withMode<T>(mode: FakeMode, run: () => Promise<T>): Promise<T> {
  fake.setMode(mode);
  try {
    return await run();
  } finally {
    fake.setMode("ok");
  }
}

describe("origin on OpenAI-compatible backends", () => {
  it("happy: embeddings come from the server, normalised", async () => {
    const body = EmbedResponseSchema.parse(await (await post("/v1/embed", { inputs: ["a", "b"], kind: "passage" })).json());
    expect(body).toMatchObject({ model: "bge-base-en-v1.5", dimensions: 8 });
    for (const v of body.vectors) expect(v.reduce((s, x) => s + x * x, 0)).toBeCloseTo(1, 5);
  });

  it("happy: generation streams the LLM's tokens and reports its citations and usage", async () => {
    const response = await post("/v1/generate", { query: "Who won?", contexts, stream: true, max_tokens: 64 });
    const text = await response.text();
    const tokens = [...text.matchAll(/event: token\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!).text);
    expect(tokens.join("")).toBe(FAKE_ANSWER);
    const done = JSON.parse(text.match(/event: done\ndata: (.*)\n/)![1]!);
    expect(done).toEqual({
      model: "qwen2.5-7b-instruct",
      citations: [1, 2],
      usage: { completion_tokens: FAKE_COMPLETION_TOKENS },
      finish_reason: "stop",
    });
  });

  it("happy: non-streamed generation returns the same answer", async () => {
    const body = GenerateResponseSchema.parse(await (await post("/v1/generate", { query: "Who won?", contexts })).json());
    expect(body.answer).toBe(FAKE_ANSWER);
    expect(body.citations).toEqual([1, 2]);
  });

  it("happy: the request's max_tokens and temperature reach the LLM", async () => {
    await post("/v1/generate", { query: "Who won?", contexts, max_tokens: 33, temperature: 0.9 });
    const sent = fake.requests.filter((r) => r.path.endsWith("/chat/completions")).at(-1)!;
    expect(sent.body).toMatchObject({ max_tokens: 33, temperature: 0.9 });
  });

  const failures = [
    ["http-500", 502, "UPSTREAM_ERROR"],
    ["http-503", 503, "UPSTREAM_UNAVAILABLE"],
    ["hang", 504, "UPSTREAM_TIMEOUT"],
  ] as const;
  for (const [mode, status, code] of failures) {
    it(`error: upstream ${mode} → ${status} ${code} problem on embed, ingest and generate`, async () => {
      await withMode(mode, async () => {
        for (const [path, body] of [
          ["/v1/embed", { inputs: ["x"], kind: "query" }],
          ["/v1/ingest", { documents: [{ id: "d", text: "Some text to embed." }] }],
          ["/v1/generate", { query: "q", contexts, stream: true }],
        ] as const) {
          const response = await post(path, body);
          expect(response.status, path).toBe(status);
          expect(response.headers.get("content-type")).toMatch(/problem\+json/);
          const problem = await response.json();
          expect(problem).toMatchObject({ status, code });
          expect(JSON.stringify(problem)).not.toContain("secret-upstream-detail");
        }
      });
    });
  }

  it("error: a stream that stalls mid-way ends with an error event carrying a 504 problem", async () => {
    await withMode("stall-mid-stream", async () => {
      const response = await post("/v1/generate", { query: "q", contexts, stream: true });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain("event: token");
      const problem = JSON.parse(text.match(/event: error\ndata: (.*)\n/)![1]!);
      expect(problem).toMatchObject({ status: 504, code: "UPSTREAM_TIMEOUT", request_id: response.headers.get("x-request-id") });
      expect(text).not.toContain("event: done");
    });
  });

  it("error: an upstream error event mid-stream ends with an error event (502)", async () => {
    await withMode("error-mid-stream", async () => {
      const text = await (await post("/v1/generate", { query: "q", contexts, stream: true })).text();
      expect(JSON.parse(text.match(/event: error\ndata: (.*)\n/)![1]!)).toMatchObject({ status: 502, code: "UPSTREAM_ERROR" });
    });
  });

  it("error: /readyz turns 503 while both backends fail, and back to 200", async () => {
    await withMode("http-500", async () => {
      const response = await fetch(`${origin.url}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        status: "not_ready",
        checks: { embeddings: { ok: false }, generation: { ok: false } },
      });
    });
    expect((await fetch(`${origin.url}/readyz`)).status).toBe(200);
  });

  it("security: backend failures are counted, and API keys never reach logs or metrics", async () => {
    const metrics = await (await fetch(`${origin.url}/metrics`)).text();
    expect(metrics).toMatch(/origin_backend_errors_total\{backend="embeddings",code="UPSTREAM_TIMEOUT"\} [1-9]/);
    expect(metrics).toMatch(/origin_backend_errors_total\{backend="generation",code="UPSTREAM_TIMEOUT"\} [1-9]/);
    const everything = origin.output() + metrics;
    expect(everything).not.toContain("embed-key-do-not-log");
    expect(everything).not.toContain("gen-key-do-not-log");
    expect(fake.requests.find((r) => r.path === "/v1/embeddings")!.headers.authorization).toBe("Bearer embed-key-do-not-log");
  });

  it("happy: a client that leaves mid-stream is counted as client-closed, not as a generation backend failure", async () => {
    const metricsBefore = await (await fetch(`${origin.url}/metrics`)).text();
    const logged = origin.output().length;
    const abort = new AbortController();
    await withMode("slow-stream", async () => {
      const response = await fetch(`${origin.url}/v1/generate`, {
        method: "POST",
        headers: await authHeaders("/v1/generate"),
        body: JSON.stringify({ query: "q", contexts, stream: true }),
        signal: abort.signal,
      });
      const reader = response.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toContain("event: token");
      abort.abort();
      await new Promise((r) => setTimeout(r, 400));
    });
    const metrics = await (await fetch(`${origin.url}/metrics`)).text();
    const generationErrors = (text: string) => text.match(/^origin_backend_errors_total\{backend="generation".*$/gm) ?? [];
    expect(generationErrors(metrics)).toEqual(generationErrors(metricsBefore));
    expect(metrics).toMatch(/origin_client_closed_total\{route="\/v1\/generate"\} 1$/m);
    expect(origin.output().slice(logged)).not.toContain("generation failed mid-stream");
  });

  it("happy: a client that leaves before the first token is a 499 in the metrics, not a 200 or a backend failure", async () => {
    const metricsBefore = await (await fetch(`${origin.url}/metrics`)).text();
    await withMode("hang", async () => {
      const leaving = fetch(`${origin.url}/v1/generate`, {
        method: "POST",
        headers: await authHeaders("/v1/generate"),
        body: JSON.stringify({ query: "q", contexts, stream: true }),
        signal: AbortSignal.timeout(100), // before the 400 ms upstream deadline
      });
      await expect(leaving).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 100));
    });
    const metrics = await (await fetch(`${origin.url}/metrics`)).text();
    const generationErrors = (text: string) => text.match(/^origin_backend_errors_total\{backend="generation".*$/gm) ?? [];
    expect(generationErrors(metrics)).toEqual(generationErrors(metricsBefore));
    expect(metrics).toMatch(/origin_http_requests_total\{method="POST",route="\/v1\/generate",status="499"\} 1$/m);
    expect(metrics).toMatch(/origin_client_closed_total\{route="\/v1\/generate"\} 2$/m);
  });

  it("happy: idle keep-alive sockets outlive ingress-nginx's 60 s upstream keep-alive (Keep-Alive: timeout=65)", async () => {
    const headers = await new Promise<Record<string, unknown>>((done, fail) => {
      request(`${origin.url}/healthz`, (response) => {
        response.resume();
        done(response.headers);
      })
        .on("error", fail)
        .end();
    });
    expect(headers["keep-alive"]).toBe("timeout=65");
  });
});
