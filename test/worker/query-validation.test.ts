import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, tenantObject, uniqueTenant } from "./helpers";
import { CORPUS, indexFixture } from "./query-fixtures";
import { TEST_SECRETS } from "./secrets";

/**
 * POST /v1/query and /v1/query/batch: what is refused and why, who may call, and what user text
 * can never do. Nothing here needs the origin: refusals happen before it, and the keyword-mode
 * security checks run against an origin that is down (the answer is then the edge's own).
 */

const tenant = uniqueTenant("qval");
let key = "";

beforeAll(async () => {
  ({ key } = await createKey(tenant, ["reader"]));
  await indexFixture(tenant, CORPUS, { vectors: false });
});

const query = (body: unknown, options: { auth?: string; headers?: Record<string, string> } = {}) =>
  call("/v1/query", { auth: options.auth ?? key, body, headers: options.headers });
/** Keyword mode against a dead origin: deterministic, and independent of the origin's state. */
const keywordQuery = (body: Record<string, unknown>) =>
  callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/query", { auth: key, body: { mode: "keyword", ...body } });

async function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  const problem = await json(response);
  expect(problem).toMatchObject({
    status,
    code,
    type: expect.stringMatching(/^urn:edge-rag:problem:/),
    title: expect.any(String),
    detail: expect.any(String),
  });
  expect(problem.request_id).toBe(response.headers.get("x-request-id"));
  return problem;
}

async function indexState() {
  const { index_version, chunks } = await tenantObject(tenant).stats();
  return { version: index_version, chunks };
}

describe("query validation (error)", () => {
  it.each<[string, unknown, RegExp]>([
    ["an empty query", { query: "" }, /query/],
    ["a blank query", { query: "   \n\t" }, /query: must not be blank/],
    ["a query over 2000 characters", { query: "x".repeat(2001) }, /query/],
    ["a non-string query", { query: 42 }, /query/],
    ["a missing query", { top_k: 3 }, /query/],
    ["top_k 0", { query: "fire", top_k: 0 }, /top_k/],
    ["top_k 51", { query: "fire", top_k: 51 }, /top_k/],
    ["a fractional top_k", { query: "fire", top_k: 2.5 }, /top_k/],
    ["a string top_k", { query: "fire", top_k: "5" }, /top_k/],
    ["an unknown mode", { query: "fire", mode: "fuzzy" }, /mode/],
    ["a non-boolean stream", { query: "fire", stream: "yes" }, /stream/],
    ["a non-boolean cache", { query: "fire", cache: 0 }, /cache/],
    ["an unknown field", { query: "fire", topk: 3 }, /Unrecognized key/],
    ["filters that are not an object", { query: "fire", filters: ["lang"] }, /filters/],
    ["an unknown filter operator", { query: "fire", filters: { lang: { $regex: "^e" } } }, /filters\.lang: Unrecognized key: "\$regex"/],
    ["combined operators", { query: "fire", filters: { year: { $eq: 1, $gt: 0 } } }, /cannot be combined/],
    ["an empty $in", { query: "fire", filters: { lang: { $in: [] } } }, /at least one value/],
    ["a null filter value", { query: "fire", filters: { lang: null } }, /filters\.lang/],
    ["an invalid filter key", { query: "fire", filters: { "lang'--": "en" } }, /filters/],
    ["a bad collection name", { query: "fire", filters: { collection: "../etc" } }, /not a collection name/],
    ["a __proto__ filter key", JSON.parse('{"query": "fire", "filters": {"__proto__": "x"}}'), /filters\.__proto__/],
    [
      "too many collections",
      { query: "fire", filters: { collection: { $in: Array.from({ length: 11 }, (_, i) => `c${i}`) } } },
      /at most 10 collections/,
    ],
  ])("rejects %s with a 400 naming the field", async (_, body, detail) => {
    const problem = await expectProblem(await query(body), 400, "VALIDATION_FAILED");
    expect(problem.detail).toMatch(detail);
    expect(Array.isArray(problem.errors)).toBe(true);
  });

  it("accepts the documented bounds: top_k 1 and 50, a 2000-character query", async () => {
    for (const body of [{ query: "fire london", top_k: 1 }, { query: "fire london", top_k: 50 }, { query: `fire ${"x".repeat(1995)}` }]) {
      const response = await keywordQuery(body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(200);
      const result = await json(response);
      expect(result.sources.length).toBeLessThanOrEqual(body.top_k ?? 5);
    }
  });

  it("takes filter keys named like Object.prototype members as metadata keys (200, never a 5xx)", async () => {
    for (const filters of [{ toString: "x" }, { constructor: 1 }, { valueOf: { $ne: "x" } }, { hasOwnProperty: { $in: ["a"] } }]) {
      const response = await keywordQuery({ query: "fire london", filters });
      expect(response.status, JSON.stringify(filters)).toBe(200);
      const { sources } = await json(response);
      // No fixture document has these keys: only the $ne filter matches them all.
      expect(sources.length > 0, JSON.stringify(filters)).toBe(Object.hasOwn(filters, "valueOf"));
    }
  });

  it("rejects malformed JSON and a non-JSON body", async () => {
    await expectProblem(
      await call("/v1/query", { auth: key, body: '{"query": "fire",', headers: { "content-type": "application/json" } }),
      400,
      "MALFORMED_REQUEST",
    );
    const plain = await call("/v1/query", { auth: key, body: "query=fire", headers: { "content-type": "text/plain" } });
    expect([400, 415]).toContain(plain.status);
    expect(plain.headers.get("content-type")).toContain("application/problem+json");
  });

  it("rejects a body over 64 KiB with 413", async () => {
    await expectProblem(await query({ query: "fire", padding: "x".repeat(70 * 1024) }), 413, "PAYLOAD_TOO_LARGE");
  });

  it("changes nothing when it refuses", async () => {
    const before = await indexState();
    await query({ query: "" });
    await query({ query: "fire", filters: { lang: { $where: "1" } } });
    await call("/v1/query/batch", { auth: key, body: { queries: [] } });
    expect(await indexState()).toEqual(before);
  });
});

describe("query batch validation (error)", () => {
  const batch = (body: unknown) => call("/v1/query/batch", { auth: key, body });

  it.each<[string, unknown]>([
    ["no queries", { queries: [] }],
    ["more than 32 queries", { queries: Array.from({ length: 33 }, () => ({ query: "fire" })) }],
    ["a missing queries field", {}],
    ["queries that are not an array", { queries: { query: "fire" } }],
    ["an unknown field", { queries: [{ query: "fire" }], parallel: true }],
  ])("rejects %s with a 400", async (_, body) => {
    await expectProblem(await batch(body), 400, "VALIDATION_FAILED");
  });
});

describe("query access (security)", () => {
  it("needs credentials (401 with WWW-Authenticate)", async () => {
    for (const path of ["/v1/query", "/v1/query/batch"]) {
      const response = await call(path, { body: { query: "fire" } });
      await expectProblem(response, 401, "CREDENTIALS_MISSING");
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    }
    await expectProblem(await query({ query: "fire" }, { auth: "erk_0123456789abcdef_notthesecret" }), 401, "API_KEY_INVALID");
  });

  it("needs the reader role (403)", async () => {
    const token = await new SignJWT({ tenant, roles: [] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("svc:nobody") // not `user:`: login tokens need a users row (revocation)
      .setIssuer("edge-rag")
      .setAudience("edge-rag-api")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(TEST_SECRETS.AUTH_JWT_SECRET));
    await expectProblem(await query({ query: "fire" }, { auth: token }), 403, "FORBIDDEN");
    await expectProblem(await call("/v1/query/batch", { auth: token, body: { queries: [{ query: "fire" }] } }), 403, "FORBIDDEN");
  });

  it("validates after authenticating: an anonymous bad body is a 401, not a 400", async () => {
    await expectProblem(await call("/v1/query", { body: { query: "" } }), 401, "CREDENTIALS_MISSING");
  });

  it("applies the query rate limit (its headers are on answers)", async () => {
    // The Workers rate-limiting binding (no Upstash configured): always reachable in workerd.
    const noUpstash = { ORIGIN_URLS: DEAD_ORIGIN, UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" };
    const response = await callWithEnv(noUpstash, "/v1/query", { auth: key, body: { query: "Pudding Lane bakery", mode: "keyword" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("ratelimit-limit")).toMatch(/^\d+$/);
    expect(response.headers.get("ratelimit-reset")).toMatch(/^\d+$/);
  });
});

describe("FTS5 injection through the API (security)", () => {
  it.each([
    '"',
    '"Pudding Lane',
    "Pudding*",
    "NEAR(Pudding Lane)",
    "NEAR(",
    "fire OR",
    "OR",
    "AND NOT",
    "text:Pudding",
    "chunks_fts: fire",
    "-fire",
    "^fire",
    "(fire",
    "{text}: fire",
    "rank:1",
    "'; DELETE FROM chunks; --",
    "*",
    "…",
  ])("answers %j as plain words, never with an error", async (attempt) => {
    const before = await indexState();
    const response = await keywordQuery({ query: attempt });
    expect(response.status).toBe(200);
    const result = await json(response);
    expect(Array.isArray(result.sources)).toBe(true);
    expect(await indexState()).toEqual(before);
  });

  it("finds nothing, without an error, for a query of only punctuation or stop-words", async () => {
    for (const text of ["?!?", "the of and to", '""""']) {
      const response = await keywordQuery({ query: text });
      expect(response.status).toBe(200);
      const result = await json(response);
      expect(result.sources).toEqual([]);
      expect(result.metadata.total_sources).toBe(0);
    }
  });

  it("does not treat `text:` as a column filter or `*` as a prefix", async () => {
    const prefix = await json(await keywordQuery({ query: "Puddin*" }));
    expect(prefix.sources).toEqual([]);
    const column = await json(await keywordQuery({ query: "text:Pudding" }));
    expect(column.sources.map((s: { document_id: string }) => s.document_id)).toContain("london-fire");
  });
});

describe("OpenAPI document (happy)", () => {
  it("describes both query routes and defines the score", async () => {
    const doc = await json(await call("/openapi.json"));
    expect(doc.paths["/v1/query"].post).toBeDefined();
    expect(doc.paths["/v1/query/batch"].post).toBeDefined();
    expect(JSON.stringify(doc.components.schemas.QuerySource)).toMatch(/reciprocal-rank-fusion/);
    expect(Object.keys(doc.paths["/v1/query"].post.responses["200"].content)).toEqual(["application/json", "text/event-stream"]);
  });
});
