import { env } from "cloudflare:test";
import fc from "fast-check";
import { SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { bindingsWith, callWithBindings, createKey, tenantSql, uniqueTenant } from "../worker/helpers";
import { TEST_SECRETS } from "../worker/secrets";

/**
 * Property-based fuzzing of every JSON route (the query, search, chat, document, key, auth, webhook
 * and bucket sync routes, and /mcp's JSON-RPC) and of the multipart upload (fast-check): thousands of
 * generated bodies — arbitrary JSON, malformed text, and bodies shaped like the route's schema with
 * wrong, extreme or hostile values (for the upload: parts with hostile names, types and bytes, and
 * raw multipart text). Properties: never a 5xx; every error is application/problem+json with a code
 * (OpenAI's error body on the chat route; a JSON-RPC error where /mcp's transport refuses a message);
 * a rejected request (4xx) changes no stored data (documents, jobs, keys, sign-outs, webhooks, the
 * sync source). Limits are lifted so that every case reaches validation.
 */

const UNLIMITED = "100000000/60s";
const bindings = bindingsWith({
  RATE_LIMIT_QUERY: UNLIMITED,
  RATE_LIMIT_INGEST: UNLIMITED,
  RATE_LIMIT_AUTH: UNLIMITED,
  RATE_LIMIT_LOGIN_IP: UNLIMITED,
  RATE_LIMIT_AUTH_FAILURES_IP: UNLIMITED,
  TENANT_RATE_LIMIT_QUERY: UNLIMITED,
  TENANT_RATE_LIMIT_INGEST: UNLIMITED,
  TENANT_RATE_LIMIT_AUTH: UNLIMITED,
});

const figures: Array<{ route: string; cases: number; status5xx: number; statuses: Record<number, number> }> = [];
afterAll(() => {
  const total = figures.reduce((sum, f) => sum + f.cases, 0);
  const failures = figures.reduce((sum, f) => sum + f.status5xx, 0);
  console.log(
    `fuzz: ${total} cases, ${failures} 5xx\n${figures.map((f) => `  ${f.route}: ${f.cases} cases, statuses ${JSON.stringify(f.statuses)}`).join("\n")}`,
  );
});

/** Values that break parsers and naive code: odd strings, huge and special numbers, nesting. */
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\ud800",
    "'; DROP TABLE documents; --",
    '"',
    "NEAR(",
    "*",
    "$where",
    "__proto__",
    "constructor",
    "../../etc",
  ),
  fc.string({ minLength: 5000, maxLength: 9000 }),
);
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53, 0.5, 1e-300),
);
const value = fc.oneof(fc.jsonValue({ maxDepth: 4 }), hostileString, hostileNumber, fc.boolean(), fc.constant(null));

const filters = fc.oneof(
  value,
  fc.dictionary(hostileString, value, { maxKeys: 4 }),
  fc.dictionary(
    fc.constantFrom("collection", "document_id", "lang", "year"),
    fc.oneof(value, fc.dictionary(fc.constantFrom("$eq", "$ne", "$in", "$nin", "$lt", "$gte", "$x"), value, { maxKeys: 2 })),
    { maxKeys: 3 },
  ),
);

const queryShape = fc.record(
  {
    query: fc.oneof(hostileString, value),
    mode: fc.oneof(fc.constantFrom("keyword", "keyword", "keyword", "hybrid", "vector"), value),
    top_k: fc.oneof(fc.integer({ min: -5, max: 200 }), value),
    filters,
    group_by: fc.oneof(fc.constantFrom("chunk", "document"), value),
    cache: fc.oneof(fc.boolean(), value),
    stream: fc.oneof(fc.constant(false), fc.boolean(), value),
    extra: value,
  },
  { requiredKeys: [] },
);

/** Mostly valid queries, so that fuzzing also reaches retrieval and generation. */
const validQuery = fc.record(
  {
    query: fc.string({ minLength: 1, maxLength: 300 }),
    mode: fc.constantFrom("keyword", "keyword", "hybrid", "vector"),
    top_k: fc.integer({ min: 1, max: 20 }),
    filters: fc.dictionary(fc.constantFrom("collection", "document_id", "lang"), fc.string({ maxLength: 20 }), { maxKeys: 2 }),
  },
  { requiredKeys: ["query"] },
);

const validDocuments = fc.record({
  documents: fc.array(
    fc.record(
      {
        id: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        text: fc.string({ minLength: 1, maxLength: 300 }),
        metadata: fc.dictionary(fc.stringMatching(/^[a-z]{1,10}$/), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()), {
          maxKeys: 3,
        }),
      },
      { requiredKeys: ["text"] },
    ),
    { minLength: 1, maxLength: 3 },
  ),
});

const documentShape = fc.record(
  {
    id: fc.oneof(hostileString, value),
    text: fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), value),
    metadata: fc.oneof(fc.dictionary(hostileString, value, { maxKeys: 3 }), value),
  },
  { requiredKeys: [] },
);

/** A body: arbitrary JSON, raw (often malformed) text, a schema-shaped object, or (when given) a valid one. */
const bodyOf = (shaped: fc.Arbitrary<unknown>, valid?: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 2, arbitrary: value.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 4, arbitrary: shaped.map((v) => JSON.stringify(v)) },
    { weight: valid ? 3 : 0, arbitrary: (valid ?? shaped).map((v) => JSON.stringify(v)) },
  );

interface Snapshot {
  documents: number;
  keys: number;
  jobs: number;
  /** Signed-out tokens of the tenant's subjects (the fuzz's users are `user:<tenant>-…`, its keys `key:<id>`). */
  revoked: number;
  /** The tenant's webhooks, each as `id url events`. */
  webhooks: string | null;
  /** The attached bucket sync source, as `prefix collection updated_at`, and its runs. */
  sync_source: string | null;
  sync_runs: number;
  /** The control plane's list of tenants with a sync source (the cron's). */
  sync_listed: number;
}

async function snapshot(tenant: string): Promise<Snapshot> {
  const row = await env.DB.prepare(
    `SELECT (SELECT COUNT(*) FROM api_keys WHERE tenant = ?1) AS keys,
            (SELECT COUNT(*) FROM revoked_tokens WHERE subject LIKE 'user:' || ?1 || '-%'
               OR subject IN (SELECT 'key:' || id FROM api_keys WHERE tenant = ?1)) AS revoked,
            (SELECT COUNT(*) FROM sync_sources WHERE tenant = ?1) AS sync_listed`,
  )
    .bind(tenant)
    .first<Pick<Snapshot, "keys" | "revoked" | "sync_listed">>();
  const [data] = await tenantSql<Omit<Snapshot, "keys" | "revoked" | "sync_listed">>(
    tenant,
    `SELECT (SELECT COUNT(*) FROM documents) AS documents, (SELECT COUNT(*) FROM jobs) AS jobs,
            (SELECT group_concat(id || ' ' || url || ' ' || events, char(10)) FROM (SELECT * FROM webhooks ORDER BY id)) AS webhooks,
            (SELECT prefix || ' ' || collection || ' ' || updated_at FROM sync_source) AS sync_source,
            (SELECT COUNT(*) FROM sync_runs) AS sync_runs`,
  );
  return { ...row!, ...data! };
}

async function fuzzRoute(options: {
  route: string;
  path: string;
  /** POST unless named. */
  method?: string;
  /** Headers beyond the JSON content type. */
  headers?: Record<string, string>;
  /** One credential, or one drawn per case. */
  auth?: string | fc.Arbitrary<string | undefined>;
  tenant: string;
  body: fc.Arbitrary<string>;
  numRuns: number;
  /**
   * How the route answers an error: problem+json (every route), OpenAI's error body (the chat
   * routes), or on /mcp a JSON-RPC error (the MCP transport's refusals) or a problem (the worker's own).
   */
  errors?: "problem" | "openai" | "jsonrpc";
}) {
  const entry = { route: options.route, cases: 0, status5xx: 0, statuses: {} as Record<number, number> };
  figures.push(entry);
  await fc.assert(
    fc.asyncProperty(options.body, typeof options.auth === "object" ? options.auth : fc.constant(options.auth), async (body, auth) => {
      const before = await snapshot(options.tenant);
      const response = await callWithBindings(bindings, options.path, {
        method: options.method ?? "POST",
        auth,
        body,
        headers: { "content-type": "application/json", ...options.headers },
      });
      entry.cases += 1;
      entry.statuses[response.status] = (entry.statuses[response.status] ?? 0) + 1;
      if (response.status >= 500) entry.status5xx += 1;
      const text = await response.text();
      expect(response.status, text.slice(0, 300)).toBeLessThan(500);
      if (response.status >= 400) {
        if (options.errors === "openai") {
          expect(response.headers.get("content-type")).toMatch(/^application\/json/);
          expect(JSON.parse(text)).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
        } else if (options.errors === "jsonrpc" && response.headers.get("content-type") !== "application/problem+json") {
          expect(response.headers.get("content-type")).toMatch(/^application\/json/);
          expect(JSON.parse(text)).toMatchObject({ jsonrpc: "2.0", error: { code: expect.any(Number), message: expect.any(String) } });
        } else {
          expect(response.headers.get("content-type")).toBe("application/problem+json");
          const problem = JSON.parse(text);
          expect(problem).toMatchObject({ status: response.status, code: expect.any(String), request_id: expect.any(String) });
        }
        expect(await snapshot(options.tenant)).toEqual(before);
      }
    }),
    { numRuns: options.numRuns, seed: Number(process.env.FUZZ_SEED ?? 20261130), endOnFailure: true },
  );
  expect(entry.status5xx).toBe(0);
}

describe("security: fuzzing every JSON route, and the multipart upload (fast-check)", () => {
  const tenant = uniqueTenant("fuzz");
  const keys = Promise.all([createKey(tenant, ["reader"]), createKey(tenant, ["writer"]), createKey(tenant, ["admin"])]);

  it("POST /v1/query", async () => {
    const [reader] = await keys;
    await fuzzRoute({
      route: "POST /v1/query",
      path: "/v1/query",
      auth: reader.key,
      tenant,
      body: bodyOf(queryShape, validQuery),
      numRuns: 500,
    });
  }, 120_000);

  it("POST /v1/search", async () => {
    const [reader] = await keys;
    await fuzzRoute({
      route: "POST /v1/search",
      path: "/v1/search",
      auth: reader.key,
      tenant,
      body: bodyOf(queryShape, validQuery),
      numRuns: 500,
    });
  }, 120_000);

  it("POST /v1/chat/completions", async () => {
    const [reader] = await keys;
    const message = fc.record(
      {
        role: fc.oneof(fc.constantFrom("user", "user", "assistant", "system", "tool"), value),
        content: fc.oneof(hostileString, value),
        extra: value,
      },
      { requiredKeys: [] },
    );
    const chatShape = fc.record(
      {
        model: fc.oneof(fc.constantFrom("edge-rag", "edge-rag/default", "gpt-4o"), value),
        messages: fc.oneof(fc.array(message, { maxLength: 4 }), value),
        stream: fc.oneof(fc.constant(false), value),
        temperature: value,
        n: value,
        extra: value,
      },
      { requiredKeys: [] },
    );
    const validChat = fc.record({
      model: fc.constantFrom("edge-rag", "edge-rag/default"),
      messages: fc.array(fc.record({ role: fc.constantFrom("user", "assistant"), content: fc.string({ minLength: 1, maxLength: 200 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
      mode: fc.constant("keyword"),
    });
    await fuzzRoute({
      route: "POST /v1/chat/completions",
      path: "/v1/chat/completions",
      auth: reader.key,
      tenant,
      body: bodyOf(chatShape, validChat),
      numRuns: 200,
      errors: "openai",
    });
  }, 120_000);

  it("POST /v1/query/batch", async () => {
    const [reader] = await keys;
    const batch = fc.record({ queries: fc.oneof(fc.array(queryShape, { maxLength: 5 }), value), extra: value }, { requiredKeys: [] });
    const validBatch = fc.record({ queries: fc.array(validQuery, { minLength: 1, maxLength: 4 }) });
    await fuzzRoute({
      route: "POST /v1/query/batch",
      path: "/v1/query/batch",
      auth: reader.key,
      tenant,
      body: bodyOf(batch, validBatch),
      numRuns: 300,
    });
  }, 120_000);

  it("POST /v1/documents", async () => {
    const [, writer] = await keys;
    const ingest = fc.record(
      { documents: fc.oneof(fc.array(documentShape, { maxLength: 3 }), value), collection: fc.oneof(hostileString, value), extra: value },
      { requiredKeys: [] },
    );
    await fuzzRoute({
      route: "POST /v1/documents",
      path: "/v1/documents",
      auth: writer.key,
      tenant,
      body: bodyOf(ingest, validDocuments),
      numRuns: 400,
    });
  }, 120_000);

  it("POST /v1/documents/reindex", async () => {
    const [, , admin] = await keys;
    const reindex = fc.record(
      {
        collection: fc.oneof(hostileString, value),
        ids: fc.oneof(fc.array(hostileString, { maxLength: 3 }), value),
        cursor: fc.oneof(hostileString, value),
        limit: fc.oneof(fc.integer({ min: -5, max: 200 }), value),
        extra: value,
      },
      { requiredKeys: [] },
    );
    // Valid pages that name nothing the tenant has, or a collection it lacks: the route's whole path, without re-parsing every upload.
    const validReindex = fc.oneof(
      fc.record({ ids: fc.array(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/), { minLength: 1, maxLength: 3 }) }),
      fc.record({ collection: fc.constant("fuzz-none"), limit: fc.integer({ min: 1, max: 100 }) }),
    );
    await fuzzRoute({
      route: "POST /v1/documents/reindex",
      path: "/v1/documents/reindex",
      auth: admin.key,
      tenant,
      body: bodyOf(reindex, validReindex),
      numRuns: 200,
    });
  }, 120_000);

  // Webhooks and the bucket sync source in a tenant of their own: no job of the fuzz's ingests is
  // ever delivered to a webhook registered here, and no sync run touches the other tenant's documents.
  const control = uniqueTenant("fuzz-control");
  const controlAdmin = createKey(control, ["admin"]);

  it("POST /v1/webhooks", async () => {
    const { key } = await controlAdmin;
    const url = fc.oneof(
      fc.constantFrom(
        "https://hooks.example/edge-rag",
        "http://127.0.0.1:9/hook",
        "https://user:pass@hooks.example/h",
        "https://:secret@hooks.example/h",
        "ftp://hooks.example/h",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "file:///etc/passwd",
        "//hooks.example/h",
        "/relative",
        "https://",
        "https://[::1]/h",
        "https://hooks.example:99999/h",
        `https://hooks.example/${"a".repeat(2100)}`,
      ),
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      hostileString,
      value,
    );
    const webhook = fc.record(
      {
        url,
        events: fc.oneof(
          fc.array(fc.constantFrom("job.completed", "job.failed", "job.*", "*", "", "JOB.COMPLETED", "__proto__"), { maxLength: 4 }),
          fc.array(hostileString, { maxLength: 3 }),
          value,
        ),
        secret: fc.oneof(hostileString, value),
        extra: value,
      },
      { requiredKeys: [] },
    );
    // Valid ones, a few of them repeats: past TENANT_MAX_WEBHOOKS (10) they are 403 QUOTA_EXCEEDED, and store nothing.
    const validWebhook = fc.record({
      url: fc.oneof(fc.constant("https://hooks.example/edge-rag"), fc.webUrl({ validSchemes: ["https"] })),
      events: fc.subarray(["job.completed", "job.failed"], { minLength: 1 }),
    });
    await fuzzRoute({
      route: "POST /v1/webhooks",
      path: "/v1/webhooks",
      auth: key,
      tenant: control,
      body: bodyOf(webhook, validWebhook),
      numRuns: 200,
    });
  }, 120_000);

  it("PUT /v1/sync", async () => {
    const { key } = await controlAdmin;
    const sync = fc.record(
      {
        prefix: fc.oneof(
          fc.constantFrom(
            "",
            "handbook",
            "handbook/",
            "a/b/c/",
            "../x",
            "a/../b",
            "./",
            "a//b",
            "/abs",
            "a\\b",
            "a/\u0000/",
            "%2e%2e/",
            "a".repeat(2000),
          ),
          hostileString,
          value,
        ),
        collection: fc.oneof(fc.constantFrom("default", "handbook", "Handbook", "", "-x", "a".repeat(65)), hostileString, value),
        extra: value,
      },
      { requiredKeys: [] },
    );
    const validSync = fc.record(
      {
        prefix: fc.stringMatching(/^([a-z0-9_-]{1,12}\/){0,3}$/),
        collection: fc.constantFrom("default", "handbook", "fuzz-sync"),
      },
      { requiredKeys: ["prefix"] },
    );
    await fuzzRoute({
      route: "PUT /v1/sync",
      path: "/v1/sync",
      method: "PUT",
      auth: key,
      tenant: control,
      body: bodyOf(sync, validSync),
      numRuns: 200,
    });
  }, 120_000);

  it("POST /mcp (JSON-RPC)", async () => {
    const [reader] = await keys;
    const toolCall = fc.record(
      {
        name: fc.oneof(fc.constantFrom("search", "ask", "delete", ""), hostileString, value),
        arguments: fc.oneof(queryShape, validQuery, value),
        extra: value,
      },
      { requiredKeys: [] },
    );
    const message = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant("2.0"), value),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), value),
        method: fc.oneof(
          fc.constantFrom(
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "tools/call",
            "notifications/initialized",
            "resources/list",
            "x/y",
          ),
          hostileString,
          value,
        ),
        params: fc.oneof(toolCall, value),
      },
      { requiredKeys: [] },
    );
    // A message, or a batch (up to past its cap of 16).
    const rpc = fc.oneof({ weight: 4, arbitrary: message }, { weight: 1, arbitrary: fc.array(message, { maxLength: 20 }) });
    const validRpc = fc.oneof(
      fc.record({
        jsonrpc: fc.constant("2.0"),
        id: fc.nat(),
        method: fc.constant("tools/call"),
        params: fc.record({
          name: fc.constantFrom("search", "ask"),
          arguments: validQuery.map((query) => ({ ...query, mode: "keyword" })),
        }),
      }),
      fc.record({ jsonrpc: fc.constant("2.0"), id: fc.nat(), method: fc.constantFrom("tools/list", "ping") }),
    );
    await fuzzRoute({
      route: "POST /mcp",
      path: "/mcp",
      headers: { accept: "application/json, text/event-stream" },
      auth: reader.key,
      tenant,
      body: bodyOf(rpc, validRpc),
      numRuns: 200,
      errors: "jsonrpc",
    });
  }, 120_000);

  it("POST /v1/documents/files (multipart)", async () => {
    const [, writer] = await keys;
    const entry = { route: "POST /v1/documents/files", cases: 0, status5xx: 0, statuses: {} as Record<number, number> };
    figures.push(entry);
    // Parts as a client may send them: files with hostile names, claimed types and bytes (text that
    // parses, bytes that claim to be a PDF, nothing), and text fields, known or not, with hostile values.
    // workerd's FormData cannot serialise a part name or file name that ends in a backslash: no client sends one.
    const partName = hostileString.filter((name) => !name.endsWith("\\"));
    const filePart = fc.record({
      name: fc.oneof(
        fc.constantFrom("notes.md", "page.html", "paper.pdf", "a b (1).txt", "…", "../x.md", "", "lines.jsonl", "lines.jsonl.gz"),
        partName,
      ),
      type: fc.constantFrom(
        "text/markdown",
        "text/html",
        "application/pdf",
        "text/plain",
        "",
        "application/zip",
        "text/plain; charset=x-bogus",
        "application/x-ndjson",
        "application/jsonl",
        "application/gzip",
      ),
      text: fc.oneof(
        fc.constantFrom(
          "# Title\n\nSome text.",
          "%PDF-1.7 not really",
          "<p>hi</p>",
          "",
          '{"id":"a","text":"x"}\n{bad\n{"_id":1,"title":"t","text":"y"}\n[]\n{"id":"a","text":"again"}',
          '{"id":"__proto__","text":"x","metadata":{"__proto__":1}}',
        ),
        fc.string({ maxLength: 300 }),
      ),
    });
    const fieldPart = fc.record({
      name: fc.oneof(fc.constantFrom("collection", "metadata", "file", "files", "id"), partName),
      value: fc.oneof(
        hostileString,
        value.map((v) => JSON.stringify(v)),
      ),
    });
    const form = fc.record({ files: fc.array(filePart, { maxLength: 3 }), fields: fc.array(fieldPart, { maxLength: 3 }) });
    // Or raw bytes under a multipart content type (a missing or broken boundary, truncated parts).
    const raw = fc.record({
      contentType: fc.constantFrom(
        "multipart/form-data; boundary=x",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "text/plain",
      ),
      body: fc.oneof(
        fc.string({ maxLength: 400 }),
        fc.constant('--x\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\nhi'),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: form }, { weight: 1, arbitrary: raw }), async (request) => {
        const before = await snapshot(tenant);
        let body: FormData | string;
        const headers: Record<string, string> = {};
        if ("files" in request) {
          body = new FormData();
          for (const file of request.files) body.append("file", new File([file.text], file.name, { type: file.type }));
          for (const field of request.fields) body.append(field.name, field.value);
        } else {
          body = request.body;
          headers["content-type"] = request.contentType;
        }
        // The same lifted limits as the JSON routes' cases.
        const response = await callWithBindings(bindings, "/v1/documents/files", { method: "POST", auth: writer.key, body, headers });
        entry.cases += 1;
        entry.statuses[response.status] = (entry.statuses[response.status] ?? 0) + 1;
        if (response.status >= 500) entry.status5xx += 1;
        const text = await response.text();
        expect(response.status, text.slice(0, 300)).toBeLessThan(500);
        if (response.status >= 400) {
          expect(response.headers.get("content-type")).toBe("application/problem+json");
          expect(JSON.parse(text)).toMatchObject({ status: response.status, code: expect.any(String), request_id: expect.any(String) });
          expect(await snapshot(tenant)).toEqual(before);
        } else expect(response.status).toBe(202);
      }),
      { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? 20261130), endOnFailure: true },
    );
    expect(entry.status5xx).toBe(0);
  }, 180_000);

  it("POST /v1/api-keys", async () => {
    const [, , admin] = await keys;
    const create = fc.record(
      {
        name: fc.oneof(hostileString, value),
        roles: fc.oneof(fc.array(fc.constantFrom("reader", "writer", "admin", "root", ""), { maxLength: 4 }), value),
        expires_in: fc.oneof(fc.integer({ min: -10, max: 10 ** 9 }), value),
      },
      { requiredKeys: [] },
    );
    const validKey = fc.record(
      {
        name: fc.string({ minLength: 1, maxLength: 50 }),
        roles: fc.subarray(["reader", "writer", "admin"], { minLength: 1 }),
        expires_in: fc.integer({ min: 60, max: 86_400 }),
      },
      { requiredKeys: ["name", "roles"] },
    );
    await fuzzRoute({
      route: "POST /v1/api-keys",
      path: "/v1/api-keys",
      auth: admin.key,
      tenant,
      body: bodyOf(create, validKey),
      numRuns: 300,
    });
  }, 120_000);

  it("POST /v1/auth/login", async () => {
    const login = fc.record({ username: fc.oneof(hostileString, value), password: fc.oneof(hostileString, value) }, { requiredKeys: [] });
    await fuzzRoute({ route: "POST /v1/auth/login", path: "/v1/auth/login", tenant, body: bodyOf(login), numRuns: 150 });
  }, 120_000);

  it("POST /v1/auth/token", async () => {
    const [reader] = await keys;
    await fuzzRoute({ route: "POST /v1/auth/token", path: "/v1/auth/token", auth: reader.key, tenant, body: bodyOf(value), numRuns: 100 });
  }, 120_000);

  it("POST /v1/auth/logout", async () => {
    const [reader] = await keys;
    // Every credential but a valid token of ours: none, an API key, garbage, and tokens of a tenant
    // user that are forged, expired or for another environment. None may sign anything out.
    const forged = (secret: string, audience: string, expires: number) =>
      new SignJWT({ tenant, roles: ["reader"], ver: 0 })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(`user:${tenant}-victim`)
        .setIssuer("edge-rag")
        .setAudience(audience)
        .setIssuedAt(Math.min(expires, Math.floor(Date.now() / 1000)) - 60)
        .setExpirationTime(expires)
        .setJti(crypto.randomUUID())
        .sign(new TextEncoder().encode(secret));
    const later = Math.floor(Date.now() / 1000) + 600;
    const credentials = [
      await forged("f".repeat(32), "edge-rag-api", later),
      await forged(TEST_SECRETS.AUTH_JWT_SECRET, "edge-rag-api", later - 1200),
      await forged(TEST_SECRETS.AUTH_JWT_SECRET, "edge-rag-api:production", later),
      reader.key,
    ];
    // Random header-safe text too (a header value cannot carry control characters at all).
    const credential = fc.oneof(fc.constant(undefined), fc.constantFrom(...credentials), fc.stringMatching(/^[\x21-\x7e]{1,120}$/));
    await fuzzRoute({
      route: "POST /v1/auth/logout",
      path: "/v1/auth/logout",
      auth: credential,
      tenant,
      body: bodyOf(value),
      numRuns: 150,
    });
  }, 120_000);
});
