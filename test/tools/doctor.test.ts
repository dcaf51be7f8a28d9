import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CheckResult, type DoctorOptions, isPlaceholderHost, isPlaceholderId, runDoctor } from "../../tools/cli/doctor";
import { ROOT } from "../../tools/stack/paths";

/**
 * The deploy preflight against the repo's configuration (placeholders everywhere: it must fail on
 * each), a filled-in copy (it must pass), and that copy broken one piece at a time. Online checks
 * run against fake wrangler output and a fake origin; offline they must say `skip`, never `ok`.
 */
const run = promisify(execFile);
const REPO_TOML = readFileSync(join(ROOT, "wrangler.toml"), "utf8");

const REAL_VALUES: Array<[string, string]> = [
  ["11111111-1111-1111-1111-111111111111", "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"],
  ["11111111111111111111111111111111", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
  ["22222222-2222-2222-2222-222222222222", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"],
  ["22222222222222222222222222222222", "a1b2c3d4e5f60718293a4b5c6d7e8f90"],
  ["origin.staging.edge-rag.example.com", "origin.staging.rag.acme.dev"],
  ["origin.edge-rag.example.com", "origin.rag.acme.dev"],
  ["https://app.staging.example.com", "https://app.staging.acme.dev"],
  ["https://app.example.com", "https://app.acme.dev"],
  ["example-staging.upstash.io", "eu1-staging-ace-123.upstash.io"],
  ["example.upstash.io", "eu1-prod-ace-456.upstash.io"],
  ['"rag.example.com"', '"rag.acme.dev"'],
];

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture: ${from} not found`);
  return text.replaceAll(from, to);
}

const GOOD_TOML = REAL_VALUES.reduce((text, [from, to]) => replaceOnce(text, from, to), REPO_TOML);

let dir: string;
let overlaysDir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-rag-doctor-"));
  // A copy of the manifests whose Ingress hosts are real, as an operator's would be.
  cpSync(join(ROOT, "container/k8s"), join(dir, "k8s"), { recursive: true });
  overlaysDir = join(dir, "k8s/overlays");
  for (const env of ["staging", "production"]) {
    const file = join(overlaysDir, env, "patch-ingress.yaml");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replaceAll(/origin\.(staging\.)?edge-rag\.example\.com/g, (_, s) => `origin.${s ?? ""}rag.acme.dev`),
    );
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function configFile(text: string): string {
  const file = join(dir, `wrangler-${counter++}.toml`);
  writeFileSync(file, text);
  return file;
}

async function doctor(text: string, options: Partial<DoctorOptions> = {}): Promise<CheckResult[]> {
  return runDoctor({ env: "production", configPath: configFile(text), overlaysDir, environment: {}, ...options });
}

const failed = (results: CheckResult[]) => results.filter((r) => r.status === "fail").map((r) => r.name);
const byName = (results: CheckResult[], name: string) => {
  const result = results.find((r) => r.name === name);
  if (!result) throw new Error(`no check ${name}: ${results.map((r) => r.name).join(", ")}`);
  return result;
};

describe("doctor: placeholders", () => {
  it("happy: the detectors know ids and hosts that were never filled in", () => {
    for (const id of ["00000000-0000-0000-0000-000000000000", "11111111111111111111111111111111", "edge-rag-local-kv", "", "your-kv-id"])
      expect(isPlaceholderId(id), id).toBe(true);
    expect(isPlaceholderId("4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")).toBe(false);
    for (const host of [
      "example.com",
      "app.example.com",
      "example.upstash.io",
      "example-staging.upstash.io",
      "localhost:8787",
      "127.0.0.1",
    ])
      expect(isPlaceholderHost(host), host).toBe(true);
    for (const host of ["rag.acme.dev", "eu1-prod-ace-456.upstash.io", "examples.dev"]) expect(isPlaceholderHost(host), host).toBe(false);
  });

  it.each(["staging", "production"] as const)("error: the repo's own %s configuration fails on every placeholder", async (env) => {
    const results = await runDoctor({ env, environment: {} });
    const expected = [
      "config: D1 database (DB)",
      "config: KV namespace (KV)",
      "vars: ORIGIN_URLS",
      "vars: CORS_ALLOWED_ORIGINS",
      "vars: UPSTASH_REDIS_REST_URL",
      "origin: Ingress host",
      ...(env === "production" ? ["config: routes"] : []),
    ];
    expect(failed(results).sort()).toEqual(expected.sort());
    expect(byName(results, "config: D1 database (DB)").detail).toMatch(/placeholder.*wrangler d1 create/);
    expect(byName(results, "vars: UPSTASH_REDIS_REST_URL").detail).toMatch(/example(-staging)?\.upstash\.io is a placeholder/);
  });
});

describe("doctor: a filled-in configuration", () => {
  it.each(["staging", "production"] as const)("happy: %s passes offline, and says what it did not reach", async (env) => {
    const results = await doctor(GOOD_TOML, { env });
    expect(failed(results)).toEqual([]);
    expect(results.filter((r) => r.status === "warn")).toEqual([]);
    const skipped = results.filter((r) => r.status === "skip");
    expect(skipped.map((r) => r.name)).toEqual([
      "cloudflare: secrets set",
      "cloudflare: Vectorize index",
      "cloudflare: D1 migrations applied",
      `origin: origin.${env === "staging" ? "staging." : ""}rag.acme.dev /v1/readyz`,
    ]);
    for (const r of skipped) expect(r.detail).toMatch(/not reached: no credentials/);
    expect(byName(results, "dimensions: origin model").detail).toContain("BAAI/bge-base-en-v1.5, 768-d");
  });

  it("happy: --offline never calls wrangler or the origin, even with credentials", async () => {
    const results = await doctor(GOOD_TOML, {
      offline: true,
      environment: { CLOUDFLARE_API_TOKEN: "t", ORIGIN_JWT_SECRET: "s".repeat(32) },
      runWrangler: () => Promise.reject(new Error("called")),
      fetch: () => Promise.reject(new Error("called")),
    });
    expect(results.filter((r) => r.status === "skip")).toHaveLength(4);
    for (const r of results.filter((r) => r.status === "skip")) expect(r.detail).toMatch(/offline/);
  });
});

describe("doctor: each missing or inconsistent piece is caught", () => {
  const cases: Array<[string, (text: string) => string, string, RegExp]> = [
    [
      "the Vectorize binding",
      (t) => replaceOnce(t, '[[env.production.vectorize]]\nbinding = "VECTORIZE"\nindex_name = "edge-rag"\n', ""),
      "config: Vectorize index (VECTORIZE)",
      /no \[\[env\.production\.vectorize\]\]/,
    ],
    [
      "the Workers AI binding",
      (t) => replaceOnce(t, '[env.production.ai]\nbinding = "AI"\n', ""),
      "config: Workers AI (AI)",
      /no \[env\.production\.ai\]/,
    ],
    [
      "the Analytics Engine dataset",
      (t) => replaceOnce(t, '[[env.production.analytics_engine_datasets]]\nbinding = "ANALYTICS"\ndataset = "edge_rag"\n', ""),
      "config: Analytics Engine (ANALYTICS)",
      /ANALYTICS/,
    ],
    [
      "Workers Logs",
      (t) => replaceOnce(t, "[env.production.observability]\nenabled = true\n", "[env.production.observability]\nenabled = false\n"),
      "config: Workers Logs (observability)",
      /enabled = true is missing/,
    ],
    [
      "the production entry",
      (t) =>
        replaceOnce(t, "workers_dev = false\nroutes", 'main = "src/local.ts"\nworkers_dev = false\nroutes').replace(
          /\[env\.production\]\nmain = "src\/index\.ts"\n/,
          "[env.production]\n",
        ),
      "config: production entry (main = src/index.ts)",
      /src\/local\.ts/,
    ],
    [
      "ENVIRONMENT",
      (t) => replaceOnce(t, 'ENVIRONMENT = "production"', 'ENVIRONMENT = "staging"'),
      "vars: ENVIRONMENT",
      /expected production/,
    ],
    ["ORIGIN_URLS", (t) => replaceOnce(t, 'ORIGIN_URLS = "https://origin.rag.acme.dev"', ""), "vars: ORIGIN_URLS", /unset/],
    [
      "an http origin",
      (t) => replaceOnce(t, "https://origin.rag.acme.dev", "http://origin.rag.acme.dev"),
      "vars: ORIGIN_URLS",
      /not https/,
    ],
    [
      "EMBEDDING_DIMENSIONS",
      (t) =>
        replaceOnce(
          t,
          'EMBEDDING_DIMENSIONS = "768"\nCORS_ALLOWED_ORIGINS = "https://app.acme.dev"',
          'CORS_ALLOWED_ORIGINS = "https://app.acme.dev"',
        ),
      "vars: EMBEDDING_DIMENSIONS",
      /unset/,
    ],
    [
      "a Workers AI model of another width",
      (t) =>
        replaceOnce(
          t,
          'ENVIRONMENT = "production"',
          'ENVIRONMENT = "production"\nWORKERS_AI_EMBEDDING_MODEL = "@cf/baai/bge-small-en-v1.5"',
        ),
      "dimensions: Workers AI fallback",
      /384-d vectors, EMBEDDING_DIMENSIONS is 768/,
    ],
    [
      "the D1 migrations folder",
      (t) =>
        replaceOnce(
          t,
          'database_id = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"\nmigrations_dir = "migrations"',
          'database_id = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"',
        ),
      "config: D1 database (DB)",
      /migrations_dir/,
    ],
    [
      "the dead-letter queue",
      (t) => replaceOnce(t, 'max_retries = 5\ndead_letter_queue = "edge-rag-ingest-dlq"', "max_retries = 5"),
      "config: ingestion queues",
      /dead_letter_queue/,
    ],
    [
      "the webhook queue's consumer",
      (t) =>
        replaceOnce(
          t,
          '[[env.production.queues.consumers]]\nqueue = "edge-rag-webhooks"\n',
          '[[env.production.queues.consumers]]\nqueue = "edge-rag-webhooks-other"\n',
        ),
      "config: webhook queue",
      /no consumer of edge-rag-webhooks/,
    ],
  ];

  it.each(cases)("error: %s", async (_label, mutate, check, detail) => {
    const results = await doctor(mutate(GOOD_TOML));
    expect(failed(results)).toContain(check);
    expect(byName(results, check).detail).toMatch(detail);
  });

  it("error: the worker's width disagrees with the origin overlay's model", async () => {
    const results = await doctor(GOOD_TOML.replaceAll('EMBEDDING_DIMENSIONS = "768"', 'EMBEDDING_DIMENSIONS = "1024"'));
    expect(failed(results)).toEqual(expect.arrayContaining(["dimensions: origin model", "dimensions: Workers AI fallback"]));
    expect(byName(results, "dimensions: origin model").detail).toMatch(/origin EMBEDDINGS_DIMENSIONS 768 ≠ worker 1024/);
  });

  it("error: the origin overlay's TEI serves another model than the origin asks for", async () => {
    const tei = join(dir, "k8s/base/tei.yaml");
    const original = readFileSync(tei, "utf8");
    writeFileSync(tei, original.replace('"--model-id", "BAAI/bge-base-en-v1.5"', '"--model-id", "BAAI/bge-large-en-v1.5"'));
    try {
      const results = await doctor(GOOD_TOML);
      expect(byName(results, "dimensions: origin model")).toMatchObject({
        status: "fail",
        detail: expect.stringMatching(/TEI serves BAAI\/bge-large/),
      });
    } finally {
      writeFileSync(tei, original);
    }
  });

  it("error: no [env.production] at all", async () => {
    const results = await doctor(GOOD_TOML.slice(0, GOOD_TOML.indexOf("[env.production]")));
    expect(results).toEqual([
      { name: "config: [env.production] exists", status: "fail", detail: expect.stringContaining("no [env.production]") },
    ]);
  });
});

describe("doctor: online checks (fake wrangler, fake origin)", () => {
  const SECRET = "o".repeat(40);
  const credentials = { CLOUDFLARE_API_TOKEN: "token", ORIGIN_JWT_SECRET: SECRET };

  function fakeWrangler(overrides: Record<string, string> = {}) {
    const calls: string[][] = [];
    const answers: Record<string, string> = {
      "secret list": JSON.stringify([{ name: "AUTH_JWT_SECRET" }, { name: "ORIGIN_JWT_SECRET" }, { name: "UPSTASH_REDIS_REST_TOKEN" }]),
      "vectorize get": `\n ⛅️ wrangler\n${JSON.stringify({ name: "edge-rag", config: { dimensions: 768, metric: "cosine" } })}`,
      "vectorize list-metadata-index": JSON.stringify([
        { propertyName: "collection", indexType: "String" },
        { propertyName: "document_id", indexType: "String" },
      ]),
      "d1 migrations": "✅ No migrations to apply!",
      ...overrides,
    };
    const runWrangler = async (args: string[]) => {
      calls.push(args);
      const key = Object.keys(answers).find((k) => args.join(" ").startsWith(k));
      if (!key) throw new Error(`unexpected wrangler ${args.join(" ")}`);
      return answers[key]!;
    };
    return { calls, runWrangler };
  }

  /** An origin that checks the worker's origin JWT the way container/src does (HS256, iss, aud). */
  const fakeOrigin =
    (body: object = { status: "ready", checks: { embeddings: { ok: true, model: "BAAI/bge-base-en-v1.5" } } }): typeof fetch =>
    async (input, init) => {
      expect(String(input)).toBe("https://origin.rag.acme.dev/v1/readyz");
      const token = /^Bearer (.+)$/.exec(new Headers(init?.headers).get("authorization") ?? "")?.[1] ?? "";
      try {
        await jwtVerify(token, new TextEncoder().encode(SECRET), {
          algorithms: ["HS256"],
          issuer: "edge-rag-worker",
          audience: "origin:/v1/readyz",
        });
      } catch {
        return Response.json({ title: "unauthorized" }, { status: 401 });
      }
      return Response.json(body);
    };

  it("happy: everything set, applied and ready", async () => {
    const { calls, runWrangler } = fakeWrangler();
    const results = await doctor(GOOD_TOML, { environment: credentials, runWrangler, fetch: fakeOrigin() });
    expect(results.filter((r) => r.status !== "ok")).toEqual([]);
    expect(calls.map((c) => c.slice(0, 3).join(" "))).toEqual([
      "secret list --env",
      "vectorize get edge-rag",
      "vectorize list-metadata-index edge-rag",
      "d1 migrations list",
    ]);
    expect(calls.every((c) => c.includes("production"))).toBe(true);
  });

  it("happy: a placeholder origin is not called, even with credentials", async () => {
    const { runWrangler } = fakeWrangler();
    const results = await runDoctor({
      env: "production",
      environment: credentials,
      runWrangler,
      fetch: () => Promise.reject(new Error("called")),
    });
    expect(byName(results, "origin: origin.edge-rag.example.com /v1/readyz")).toMatchObject({
      status: "skip",
      detail: expect.stringMatching(/placeholder/),
    });
  });

  it("error: a required secret is not set", async () => {
    const { runWrangler } = fakeWrangler({ "secret list": JSON.stringify([{ name: "AUTH_JWT_SECRET" }]) });
    const results = await doctor(GOOD_TOML, { environment: credentials, runWrangler, fetch: fakeOrigin() });
    expect(byName(results, "cloudflare: secrets set")).toMatchObject({
      status: "fail",
      detail: expect.stringMatching(/missing: ORIGIN_JWT_SECRET, UPSTASH_REDIS_REST_TOKEN/),
    });
  });

  it("error: the Vectorize index has another width, metric, or lacks a metadata index", async () => {
    const { runWrangler } = fakeWrangler({
      "vectorize get": JSON.stringify({ config: { dimensions: 512, metric: "euclidean" } }),
      "vectorize list-metadata-index": JSON.stringify([{ propertyName: "collection", indexType: "String" }]),
    });
    const results = await doctor(GOOD_TOML, { environment: credentials, runWrangler, fetch: fakeOrigin() });
    const { status, detail } = byName(results, "cloudflare: Vectorize index");
    expect(status).toBe("fail");
    expect(detail).toMatch(/512 dimensions, EMBEDDING_DIMENSIONS is 768/);
    expect(detail).toMatch(/metric euclidean/);
    expect(detail).toMatch(/document_id:string/);
  });

  it("error: D1 migrations are pending", async () => {
    const { runWrangler } = fakeWrangler({ "d1 migrations": "Migrations to be applied:\n│ 0007_query_cache.sql │" });
    const results = await doctor(GOOD_TOML, { environment: credentials, runWrangler, fetch: fakeOrigin() });
    expect(byName(results, "cloudflare: D1 migrations applied")).toMatchObject({
      status: "fail",
      detail: expect.stringMatching(/pending: 0007_query_cache\.sql/),
    });
  });

  it("error: wrangler itself fails (no access): fail with the reason, not a pass", async () => {
    const results = await doctor(GOOD_TOML, {
      environment: credentials,
      runWrangler: () => Promise.reject(new Error("wrangler secret list failed (exit 1)")),
      fetch: fakeOrigin(),
    });
    expect(byName(results, "cloudflare: secrets set")).toMatchObject({ status: "fail", detail: expect.stringMatching(/could not check/) });
  });

  it("security: the origin refuses another secret; an unready origin or another model fails", async () => {
    const { runWrangler } = fakeWrangler();
    const name = "origin: origin.rag.acme.dev /v1/readyz";
    const wrongSecret = await doctor(GOOD_TOML, {
      environment: { ...credentials, ORIGIN_JWT_SECRET: "x".repeat(40) },
      runWrangler,
      fetch: fakeOrigin(),
    });
    expect(byName(wrongSecret, name)).toMatchObject({ status: "fail", detail: expect.stringMatching(/401/) });
    const otherModel = await doctor(GOOD_TOML, {
      environment: credentials,
      runWrangler,
      fetch: fakeOrigin({ status: "ready", checks: { embeddings: { model: "BAAI/bge-small-en-v1.5", dimensions: 384 } } }),
    });
    expect(byName(otherModel, name).detail).toMatch(/serves BAAI\/bge-small-en-v1.5.*384-d/);
    const unreachable = await doctor(GOOD_TOML, {
      environment: credentials,
      runWrangler,
      fetch: () => Promise.reject(new TypeError("fetch failed")),
    });
    expect(byName(unreachable, name)).toMatchObject({ status: "fail", detail: expect.stringMatching(/fetch failed/) });
  });
});

describe("doctor: the command", () => {
  const cli = (args: string[]) =>
    run(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), ...args], {
      cwd: ROOT,
      env: { ...process.env, CLOUDFLARE_API_TOKEN: "" },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it("error: exits 1 on the repo's placeholders, one line per check", async () => {
    const { code, stdout } = await cli(["doctor", "--env", "production"]);
    expect(code).toBe(1);
    const lines = stdout.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("FAIL")).length).toBe(7);
    expect(lines.at(-1)).toMatch(/\d+ ok, \d+ warnings, 7 failed, 4 not checked/);
  });

  it("error: --env is required and only staging or production", async () => {
    const { code, stderr } = await cli(["doctor", "--env", "local"]);
    expect(code).toBe(64);
    expect(stderr).toMatch(/--env staging or --env production/);
  });
});
