import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDocx, makePdf } from "../../container/test/helpers/files.ts";
import { LEGACY_FIXTURE_DIR, LEGACY_TENANT, type LegacyAnswers, searchView } from "../../tools/fixtures/legacy-tenant-data";
import { freePort } from "../../tools/lib/ports";
import { ROOT } from "../../tools/stack/paths";
import { type Stack, startStack } from "../../tools/stack/stack";
import { wrangler } from "../../tools/stack/wrangler";

/**
 * Every `npx edge-rag` command against the real local stack (one stack for the file, on a free
 * port with its own state directory), run as a user runs it: the bin, its stdout, stderr and exit
 * code. The URL and key come from EDGE_RAG_URL / EDGE_RAG_KEY unless a test says otherwise.
 */
let stack: Stack;
let stateDir: string;
let workDir: string;
let adminKey: string;
let readerKey: string;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), ...args], {
      cwd: workDir,
      env: {
        ...process.env,
        EDGE_RAG_URL: stack.url,
        EDGE_RAG_KEY: adminKey,
        NO_COLOR: undefined,
        ...options.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

const json = (result: Result) => JSON.parse(result.stdout);

async function login(username: string, password: string): Promise<number> {
  return (await loginToken(username, password)).status;
}

async function loginToken(username: string, password: string): Promise<{ status: number; token?: string }> {
  const response = await fetch(`${stack.url}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) {
    await response.body?.cancel();
    return { status: response.status };
  }
  return { status: response.status, token: ((await response.json()) as { access_token: string }).access_token };
}

const meStatus = async (token: string) => {
  const response = await fetch(`${stack.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
};

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "edge-rag-cli-"));
  workDir = join(stateDir, "work");
  mkdirSync(workDir);
  stack = await startStack({
    port: await freePort(),
    stateDir,
    workerVars: {
      RATE_LIMIT_QUERY: "100000/60s",
      RATE_LIMIT_INGEST: "10000/60s",
      RATE_LIMIT_AUTH: "1000/60s",
      OPERATOR_TENANT: "ops",
      TENANT_COPY_SLICE_MS: "0",
    },
    log: (component, line) => appendFileSync(join(stateDir, "stack.log"), `[${component}] ${line}\n`),
  });
  const created = await cli(["keys", "create", "--tenant", "cli", "--roles", "admin", "--name", "cli-admin", "--persist-to", stateDir]);
  expect(created.code, created.stderr).toBe(0);
  adminKey = created.stdout.trim().split("\n").at(-1)!;
  const reader = await cli(["keys", "create", "--tenant", "cli", "--roles", "reader", "--name", "cli-reader", "--persist-to", stateDir]);
  readerKey = reader.stdout.trim().split("\n").at(-1)!;
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe("edge-rag against the local stack", () => {
  let jobId: string;

  it("keys create: working keys, alone on stdout's last line", () => {
    expect(adminKey).toMatch(/^erk_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(readerKey).toMatch(/^erk_/);
  });

  it("ingest: a folder, with --url/--key on the command line instead of the environment", async () => {
    const folder = join(stateDir, "corpus");
    mkdirSync(folder);
    writeFileSync(
      join(folder, "keys.md"),
      "# API keys\n\nTo rotate an API key, create a new key with `edge-rag keys create`, move your clients to it, then revoke the old key with `edge-rag keys revoke`. A revoked key stops working within seconds.\n",
    );
    writeFileSync(
      join(folder, "cache.md"),
      "# Cache\n\nAnswers are cached per tenant. Purge the cache with `edge-rag cache purge` after you change the documents.\n",
    );
    const result = await cli(["ingest", folder, "--collection", "handbook", "--url", stack.url, "--key", adminKey], {
      env: { EDGE_RAG_URL: undefined, EDGE_RAG_KEY: undefined },
    });
    expect(result.code, result.stderr).toBe(0);
    const summary = json(result);
    expect(summary).toMatchObject({ documents: 2, failed: [] });
    jobId = summary.jobs[0];
    // A reader may not ingest: exit 3, as for any 401/403.
    const refused = await cli(["ingest", folder, "--restart"], { env: { EDGE_RAG_KEY: readerKey } });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain("403");
  }, 120_000);

  it("jobs get / jobs wait: the job's state; wait shows progress and exits 0 when done", async () => {
    const wait = await cli(["jobs", "wait", jobId, "--json"]);
    expect(wait.code, wait.stderr).toBe(0);
    expect(json(wait)).toMatchObject([{ id: jobId, status: "done", documents: 2 }]);
    expect(wait.stderr).toContain("1/1 jobs finished");
    const get = await cli(["jobs", "get", jobId]);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain(`${jobId}: done`);
    expect((await cli(["jobs", "get", `job_${"0".repeat(32)}`])).code).toBe(4);
    expect((await cli(["jobs", "get", "not-a-job-id"])).code).toBe(5); // 400: not a job id
  }, 120_000);

  it("query: streams the answer, then its sources; --json gives the API's response", async () => {
    const streamed = await cli(["query", "How", "do", "I", "rotate", "an", "API", "key?", "--mode", "keyword"]);
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(streamed.stdout).toMatch(/rotate/i);
    // A Markdown file's first heading is its title (metadata.title), which heads the source.
    expect(streamed.stdout).toMatch(/^\[1\] API keys · keys\.md · handbook/m);
    expect(streamed.stdout).not.toContain("\x1b["); // not a terminal: no colour
    expect(streamed.stderr).toMatch(/cache (miss|hit|bypass|stale)/);
    const asJson = await cli(["query", "How do I rotate an API key?", "--json", "--collection", "handbook", "--top-k", "2"]);
    expect(asJson.code, asJson.stderr).toBe(0);
    const body = json(asJson);
    expect(body.answer).toEqual(expect.any(String));
    expect(body.sources[0].document_id).toBe("keys.md");
    expect(body.metadata.request_id).toEqual(expect.any(String));
  }, 120_000);

  it("search: ranked sources, per document with --group-by document", async () => {
    const result = await cli(["search", "purge the cache", "--group-by", "document", "--json", "--mode", "keyword"]);
    expect(result.code, result.stderr).toBe(0);
    expect(json(result).results[0].document_id).toBe("cache.md");
    const human = await cli(["search", "purge the cache", "--mode", "keyword"]);
    expect(human.stdout).toMatch(/^\[1\] Cache · cache\.md/m);
    // A BEIR line's title is sent as metadata.title, which keyword ranking searches and the output heads a source with.
    const notes = join(stateDir, "notes.jsonl");
    writeFileSync(
      notes,
      `${JSON.stringify({ _id: "glossary", title: "Glossary of tenancy", text: "A tenant owns its documents and keys." })}\n`,
    );
    const ingested = await cli(["ingest", notes, "--collection", "notes"]);
    expect(ingested.code, ingested.stderr).toBe(0);
    const titled = await cli(["search", "tenancy", "--mode", "keyword", "--collection", "notes"]);
    expect(titled.stdout).toMatch(/^\[1\] Glossary of tenancy · glossary · notes /m);
  }, 60_000);

  it("ingest: a folder's HTML files go through POST /v1/documents/files, and their sources carry their section", async () => {
    const folder = join(stateDir, "manuals");
    mkdirSync(join(folder, "pumps"), { recursive: true });
    writeFileSync(
      join(folder, "pumps", "valves.html"),
      `<!doctype html><html><head><title>Pump manual</title></head><body><nav><a href="/">Home</a> <a href="/deals">Seasonal pump deals</a></nav>
       <main><article><h1>Pumps</h1><p>${"Pumps need care, and this paragraph says so at some length. ".repeat(6)}</p>
       <h2>Valves</h2><p>The kestrel valve opens at 42 kilopascals. Close it before any repair.</p></article></main></body></html>`,
    );
    const result = await cli(["ingest", folder, "--collection", "manuals"]);
    expect(result.code, result.stderr).toBe(0);
    expect(json(result)).toMatchObject({ documents: 1, failed: [] });
    const found = await cli(["search", "kestrel valve kilopascals", "--json", "--collection", "manuals", "--mode", "keyword"]);
    expect(found.code, found.stderr).toBe(0);
    expect(json(found).results[0]).toMatchObject({ document_id: "pumps_valves.html", section: "Pumps › Valves" });
    expect(json(found).results[0].text).not.toContain("Seasonal pump deals");
  }, 120_000);

  it("ingest: Markdown, PDF and DOCX in one request; answers cite the Markdown's section and the PDF's page; a rerun sends nothing", async () => {
    const folder = join(stateDir, "library");
    mkdirSync(join(folder, "guides"), { recursive: true });
    writeFileSync(
      join(folder, "guides", "widgets.md"),
      "# Widget guide\n\nWidgets are small and sturdy.\n\n## Installation\n\n### Upgrades\n\nThe osprey dial must read 17 before any upgrade.\n",
    );
    writeFileSync(
      join(folder, "plant.pdf"),
      await makePdf(["Plant report, page one: the site.", "Page two lists the machines.", "The heron index of the Lisbon plant is 93."]),
    );
    writeFileSync(join(folder, "handbook.docx"), await makeDocx());
    const result = await cli(["ingest", folder, "--collection", "library"]);
    expect(result.code, result.stderr).toBe(0);
    const summary = json(result);
    expect(summary).toMatchObject({ documents: 3, batches: 1, jobs: [expect.any(String)], failed: [] });
    // The id and metadata.path of before: the path relative to the folder.
    const document = json(await cli(["documents", "get", "guides_widgets.md", "--json"]));
    expect(document.metadata).toMatchObject({ path: "guides/widgets.md", title: "Widget guide" });

    const ask = async (question: string) => {
      const answered = await cli(["query", question, "--json", "--collection", "library", "--mode", "keyword", "--no-cache"]);
      expect(answered.code, answered.stderr).toBe(0);
      return json(answered).sources as Array<{ document_id: string; text: string; page?: number; section?: string }>;
    };
    expect((await ask("What must the osprey dial read before an upgrade?"))[0]).toMatchObject({
      document_id: "guides_widgets.md",
      section: "Widget guide › Installation › Upgrades",
    });
    expect((await ask("What is the heron index of the Lisbon plant?"))[0]).toMatchObject({ document_id: "plant.pdf", page: 3 });

    // The state file remembers the request: nothing is sent again.
    const again = await cli(["ingest", folder, "--collection", "library"]);
    expect(again.code, again.stderr).toBe(0);
    expect(json(again)).toMatchObject({ documents: 3, batches: 1, jobs: summary.jobs, failed: [] });
  }, 180_000);

  it("ingest: a JSON Lines line the API refuses fails alone, named by its line in the file (exit 2)", async () => {
    const lines = join(stateDir, "lines.jsonl");
    writeFileSync(
      lines,
      `${[
        JSON.stringify({ id: "fine-1", text: "A fine line." }),
        JSON.stringify({ id: "nested", text: "Its metadata is nested.", metadata: { a: { b: 1 } } }),
        JSON.stringify({ id: "fine-2", text: "Another fine line." }),
      ].join("\n")}\n`,
    );
    const result = await cli(["ingest", lines, "--collection", "notes", "--batch-size", "1"]);
    expect(result.code, result.stderr).toBe(2);
    expect(json(result)).toMatchObject({
      documents: 3,
      batches: 3,
      failed: [{ document_id: "lines.jsonl#2", error: expect.stringMatching(/^INVALID_LINE: line 2: metadata\.a/) }],
    });
    expect(result.stderr).toContain("lines.jsonl#2: INVALID_LINE: line 2:");
  }, 120_000);

  it("reindex: the collection's files parsed again from their originals, then waited for; a reader gets exit 3", async () => {
    const result = await cli(["reindex", "--collection", "manuals", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const [job] = json(result);
    expect(job).toMatchObject({ status: "done", documents: 1, outcomes: [{ document_id: "pumps_valves.html", status: "done" }] });
    const found = await cli(["search", "kestrel valve kilopascals", "--json", "--collection", "manuals", "--mode", "keyword"]);
    expect(json(found).results[0]).toMatchObject({ document_id: "pumps_valves.html", section: "Pumps › Valves" });
    const refused = await cli(["reindex"], { env: { EDGE_RAG_KEY: readerKey } });
    expect(refused.code, refused.stderr).toBe(3);
  }, 120_000);

  it("documents list / get / delete: then the document is gone (exit 4)", async () => {
    const list = await cli(["documents", "list", "--collection", "handbook", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(json(list).map((document: { id: string }) => document.id)).toEqual(["cache.md", "keys.md"]);
    const firstOnly = await cli(["documents", "list", "--limit", "1"]);
    expect(firstOnly.stdout).toMatch(/^cache\.md\thandbook\tindexed\t\d+ chunks\t[^\t]+\tCache\n$/);
    expect(firstOnly.stdout.trim().split("\n")).toHaveLength(1);
    const get = await cli(["documents", "get", "cache.md", "--json"]);
    expect(get.code, get.stderr).toBe(0);
    expect(json(get)).toMatchObject({ id: "cache.md", collection: "handbook", status: "indexed" });
    const human = await cli(["documents", "get", "cache.md"]);
    expect(human.stdout).toContain("Purge the cache");
    const deleted = await cli(["documents", "delete", "cache.md"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const after = await cli(["documents", "get", "cache.md"]);
    expect(after.code).toBe(4);
    expect(after.stderr).toContain("404");
  }, 60_000);

  it("cache purge: 0 for an admin, 3 for a reader", async () => {
    const purged = await cli(["cache", "purge"]);
    expect(purged.code, purged.stderr).toBe(0);
    expect((await cli(["cache", "purge"], { env: { EDGE_RAG_KEY: readerKey } })).code).toBe(3);
  }, 60_000);

  it("tenants delete / migrate tenant-data: for operators (exit 3 for a tenant's admin); the deleted tenant's documents are gone", async () => {
    const keyOf = async (tenant: string, roles: string) =>
      (await cli(["keys", "create", "--tenant", tenant, "--roles", roles, "--persist-to", stateDir])).stdout.trim().split("\n").at(-1)!;
    const operator = await keyOf("ops", "admin");
    const doomed = await keyOf("doomed", "writer");
    const folder = join(stateDir, "doomed");
    mkdirSync(folder);
    writeFileSync(join(folder, "doomed.md"), "# Doomed\n\nThis tenant is about to be deleted with everything it stored.\n");
    const ingested = await cli(["ingest", folder], { env: { EDGE_RAG_KEY: doomed } });
    expect(ingested.code, ingested.stderr).toBe(0);

    expect((await cli(["tenants", "delete", "doomed"])).code).toBe(3);
    const deleted = await cli(["tenants", "delete", "doomed", "--json"], { env: { EDGE_RAG_KEY: operator } });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(json(deleted)).toMatchObject({ tenant: "doomed", documents: 1, api_keys: 1 });
    // Its key is deleted (refused, exit 3, once no isolate holds it any more: within 5 s); while one does, it finds nothing.
    const after = await cli(["documents", "list", "--json"], { env: { EDGE_RAG_KEY: doomed } });
    if (after.code === 0) expect(json(after)).toEqual([]);
    else expect(after.code).toBe(3);

    // This stack's D1 holds no rows of a deployment from before issue 23 yet: nothing to copy.
    const migrated = await cli(["migrate", "tenant-data"], { env: { EDGE_RAG_KEY: operator } });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).toContain("0 tenants, 0 not copied whole");
  }, 120_000);

  it("migrate tenant-data: a tenant the worker before issue 23 wrote into D1 answers the same after the copy, and a rerun copies nothing (happy)", async () => {
    // The rows and answers of test/e2e/fixtures/legacy-tenant, captured from that worker (npm run fixture:legacy-tenant).
    const answers = JSON.parse(readFileSync(join(LEGACY_FIXTURE_DIR, "answers.json"), "utf8")) as LegacyAnswers;
    await wrangler(["d1", "execute", "DB", "--local", "--persist-to", stateDir, "--file", join(LEGACY_FIXTURE_DIR, "d1.sql")]);
    const operator = (await cli(["keys", "create", "--tenant", "ops", "--roles", "admin", "--persist-to", stateDir])).stdout
      .trim()
      .split("\n")
      .at(-1)!;

    const migrated = await cli(["migrate", "tenant-data", "--json"], { env: { EDGE_RAG_KEY: operator } });
    expect(migrated.code, migrated.stderr).toBe(0);
    const result = json(migrated) as { tenant: string; status: string; source: { counts: Record<string, number> }; target: unknown };
    expect(result).toMatchObject({ tenant: LEGACY_TENANT, status: "copied" });
    expect(result.source.counts).toMatchObject({ documents: 4, jobs: 2, job_documents: 5 });
    expect(result.target).toEqual(result.source);

    const key = (await cli(["keys", "create", "--tenant", LEGACY_TENANT, "--roles", "writer", "--persist-to", stateDir])).stdout
      .trim()
      .split("\n")
      .at(-1)!;
    const get = async (path: string) => {
      const response = await fetch(`${stack.url}${path}`, { headers: { "x-api-key": key } });
      expect(response.status, path).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    };
    const stats = await get("/v1/stats");
    const before = answers.stats as typeof stats;
    for (const field of ["documents", "chunks", "collections", "index_version", "embedding_model"])
      expect(stats[field], field).toEqual(before[field]);
    const usage = (stats.usage ?? {}) as Record<string, unknown>;
    const usageBefore = before.usage as Record<string, unknown>;
    for (const field of ["documents", "chunks", "bytes"]) expect(usage[field], `usage.${field}`).toEqual(usageBefore[field]);
    expect(await get("/v1/documents/lighthouse")).toMatchObject(answers.document as object);
    for (const job of answers.jobs as Array<{ id: string }>) expect(await get(`/v1/jobs/${job.id}`)).toMatchObject(job);

    for (const { query, results } of answers.searches) {
      const response = await fetch(`${stack.url}/v1/search`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ ...query, mode: "keyword", cache: false }),
      });
      expect(response.status, query.query).toBe(200);
      const after = searchView(await response.json());
      expect(
        after.map(({ keyword_score, score, ...rest }) => rest),
        query.query,
      ).toEqual(results.map(({ keyword_score, score, ...rest }) => rest));
      for (const [i, hit] of after.entries()) {
        expect(hit.keyword_score, query.query).toBeCloseTo(results[i]!.keyword_score!, 9);
        expect(hit.score, query.query).toBeCloseTo(results[i]!.score, 9);
      }
    }
    expect(answers.searches.at(-1)!.results).toEqual([]); // the deleted document stays deleted

    // TENANT_COPY_SLICE_MS 0: every call copies (or reads) one page and stops, so the command goes on slice by slice.
    const again = await cli(["migrate", "tenant-data"], { env: { EDGE_RAG_KEY: operator } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`${LEGACY_TENANT}\tcopying\t`);
    expect(again.stdout).toMatch(new RegExp(`^${LEGACY_TENANT}\tunchanged\t`, "m"));
  }, 180_000);

  it("keys list / revoke: a revoked key is refused (exit 3)", async () => {
    const list = await cli(["keys", "list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    const keys = json(list) as Array<{ id: string; name: string; revoked_at: string | null }>;
    const reader = keys.find((key) => key.name === "cli-reader")!;
    expect(readerKey).toContain(reader.id);
    expect(keys.map((key) => key.name).sort()).toEqual(["cli-admin", "cli-reader"]);
    expect(list.stdout).not.toContain(readerKey.slice("erk_".length + 17)); // the secret
    const revoked = await cli(["keys", "revoke", reader.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = await cli(["search", "cache"], { env: { EDGE_RAG_KEY: readerKey } });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("401");
    expect((await cli(["keys", "revoke", "nosuchkey0000000"])).code).toBe(4);
  }, 60_000);

  it("users create / list / reset-password / disable, on the stack's D1", async () => {
    const d1 = ["--persist-to", stateDir];
    const created = await cli(["users", "create", "--tenant", "cli", "--username", "ada", "--roles", "reader", ...d1], {
      input: "first-password-123\n",
    });
    expect(created.code, created.stderr).toBe(0);
    expect(await login("ada", "first-password-123")).toBe(200);

    const list = await cli(["users", "list", "--tenant", "cli", "--json", ...d1]);
    expect(list.code, list.stderr).toBe(0);
    expect(json(list)).toEqual([expect.objectContaining({ username: "ada", tenant: "cli", roles: ["reader"], disabled_at: null })]);
    expect(list.stdout).not.toContain("pbkdf2");

    const reset = await cli(["users", "reset-password", "--username", "ada", ...d1], { input: "second-password-456\n" });
    expect(reset.code, reset.stderr).toBe(0);
    expect(await login("ada", "first-password-123")).toBe(401);
    expect(await login("ada", "second-password-456")).toBe(200);

    const disabled = await cli(["users", "disable", "--username", "ada", ...d1]);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(await login("ada", "second-password-456")).toBe(401);
    const listed = await cli(["users", "list", "--json", ...d1]);
    expect(json(listed)[0].disabled_at).toEqual(expect.any(String));
    expect((await cli(["users", "disable", "--username", "nobody", ...d1])).code).toBe(4);

    // `users create` again enables the user with a new password, and ends the tokens they held.
    const enabled = await cli(["users", "create", "--tenant", "cli", "--username", "ada", "--roles", "reader", ...d1], {
      input: "third-password-789\n",
    });
    expect(enabled.code, enabled.stderr).toBe(0);
    const { token } = await loginToken("ada", "third-password-789");
    expect(await meStatus(token!)).toBe(200);
    const replaced = await cli(["users", "create", "--tenant", "cli", "--username", "ada", "--roles", "reader", ...d1], {
      input: "fourth-password-012\n",
    });
    expect(replaced.code, replaced.stderr).toBe(0);
    // Within the user cache's few seconds.
    await expect.poll(() => meStatus(token!), { timeout: 15_000, interval: 500 }).toBe(401);
    expect(await login("ada", "fourth-password-012")).toBe(200);
  }, 180_000);

  it("users disable --revoke-keys: keys list shows the creator, disabled, and the keys they made stop working", async () => {
    const d1 = ["--persist-to", stateDir];
    const created = await cli(["users", "create", "--tenant", "cli", "--username", "grace", "--roles", "admin", ...d1], {
      input: "grace-password-123\n",
    });
    expect(created.code, created.stderr).toBe(0);
    const { token } = await loginToken("grace", "grace-password-123");
    const response = await fetch(`${stack.url}/v1/api-keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "grace-ci", roles: ["reader"] }),
    });
    const { id, key } = (await response.json()) as { id: string; key: string };
    expect(await meStatus(key)).toBe(200);

    const listed = await cli(["keys", "list"]);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\tgrace-ci\treader\tactive\tcreated by user:grace$`, "m"));
    const disabled = await cli(["users", "disable", "--username", "grace", "--revoke-keys", ...d1]);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout.trim()).toBe(id);
    await expect.poll(() => meStatus(key), { timeout: 15_000, interval: 500 }).toBe(401);
    const after = json(await cli(["keys", "list", "--json"])) as Array<{
      id: string;
      creator_disabled: boolean | null;
      revoked_at: string | null;
    }>;
    expect(after.find((k) => k.id === id)).toMatchObject({ creator_disabled: true, revoked_at: expect.any(String) });
  }, 180_000);

  it("logout: the token is refused right after; an API key cannot sign out (exit 3)", async () => {
    const exchanged = await fetch(`${stack.url}/v1/auth/token`, { method: "POST", headers: { authorization: `Bearer ${adminKey}` } });
    const { access_token: token } = (await exchanged.json()) as { access_token: string };
    expect(await meStatus(token)).toBe(200);
    const signedOut = await cli(["logout"], { env: { EDGE_RAG_KEY: token } });
    expect(signedOut.code, signedOut.stderr).toBe(0);
    expect(await meStatus(token)).toBe(401);
    const withKey = await cli(["logout"]);
    expect(withKey.code).toBe(3);
    expect(withKey.stderr).toContain("CREDENTIAL_NOT_ACCEPTED");
    expect(await meStatus(adminKey)).toBe(200);
  }, 60_000);

  it("exit codes for usage errors (64) and an unreachable API (6)", async () => {
    expect((await cli(["query", "hello"], { env: { EDGE_RAG_URL: undefined } })).code).toBe(64);
    expect((await cli(["search", "hello", "--top-k", "1000"])).code).toBe(64);
    expect((await cli(["documents", "list", "--status", "gone"])).code).toBe(64);
    expect((await cli(["documents", "list", "extra"])).code).toBe(64);
    const unreachable = await cli(["jobs", "get", "x"], { env: { EDGE_RAG_URL: `http://127.0.0.1:${await freePort()}` } });
    expect(unreachable.code).toBe(6);
    expect(unreachable.stderr).toContain("cannot reach");
  }, 60_000);
});
