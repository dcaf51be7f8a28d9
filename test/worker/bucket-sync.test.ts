import { createScheduledController, env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { SYNC_LEASE_MS, syncDocumentId } from "../../src/ingest/bucket-sync";
import { QueueMessageSchema } from "../../src/ingest/messages";
import { createR2SourceBucket, sourcesArea } from "../../src/ingest/source-bucket";
import worker, { localServices } from "../../src/local";
import { shardOf } from "../../src/tenant/tenant-shards";
import { call, createKey, json, tenantFirst, tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { indexVersion } from "./ingest-fixtures";
import { PDF_FACT } from "./test-files";

/**
 * Bucket sync (src/ingest/bucket-sync.ts), end to end on the local stack: objects in workerd's
 * real local R2 (the SOURCES binding), runs through the real queue and consumer (or the service,
 * where a test stops a run after a page), parsing by the real origin, the index in the tenant's
 * object and the local vector index.
 */

const files = inject("testFiles");
const PDF = Uint8Array.from(atob(files.pdf), (c) => c.charCodeAt(0));

const MD_FACT = "The osprey batch ships every third Thursday.";
const HTML_FACT = "The kestrel valve opens at 42 kilopascals.";
const NEW_FACT = "The puffin gate closes at dusk on Sundays.";
const CHANGED_FACT = "The osprey batch now ships every second Monday.";

const markdown = (fact: string) => `# Shipping\n\nOrders leave the warehouse daily.\n\n## Batches\n\n${fact}\n`;
const html = (fact: string) =>
  `<!doctype html><html><head><title>Pump Docs</title></head><body><nav><a href="/">Home</a></nav><main><article><h1>Pump manual</h1><p>${"Reading this manual keeps every pump owner safe. ".repeat(4)}</p><h2>Valves</h2><p>${fact}</p></article></main></body></html>`;

interface RunBody {
  generation: number;
  state: "running" | "done" | "cancelled";
  trigger: "manual" | "scheduled";
  counts: { added: number; changed: number; removed: number; unchanged: number; failed: number };
  failures: Array<{ key: string; error: string }>;
}
interface StatusBody {
  source: { prefix: string; collection: string };
  run: RunBody | null;
  objects: number;
}
interface SourceBody {
  document_id: string;
  text: string;
  page?: number;
  section?: string;
}

async function team(label = "sync") {
  const tenant = uniqueTenant(label);
  const [admin, reader] = await Promise.all([createKey(tenant, ["admin"]), createKey(tenant, ["reader"])]);
  return { tenant, admin: admin.key, reader: reader.key };
}

/** Puts an object in the tenant's area of the SOURCES bucket, as `wrangler r2 object put` or the S3 API would. */
const put = (tenant: string, key: string, body: string | Uint8Array, contentType?: string) =>
  env.SOURCES.put(`${sourcesArea(tenant)}${key}`, body, contentType ? { httpMetadata: { contentType } } : undefined);
const remove = (tenant: string, key: string) => env.SOURCES.delete(`${sourcesArea(tenant)}${key}`);

const attach = (key: string, body: unknown) => call("/v1/sync", { method: "PUT", auth: key, body });
const status = async (key: string) => {
  const response = await call("/v1/sync", { auth: key });
  expect(response.status, await response.clone().text()).toBe(200);
  return json<StatusBody>(response);
};

/** Waits until every document the tenant's object holds is settled (none queued). */
async function settled(tenant: string, timeoutMs = 25_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const queued = (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM documents WHERE status = 'queued'"))!.n;
    if (queued === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`documents of ${tenant} still queued after ${timeoutMs} ms`);
}

/** POST /v1/sync/run, then waits for that run (through the real queue and consumer) and for its documents' indexing. */
async function syncNow(tenant: string, admin: string, timeoutMs = 40_000): Promise<RunBody> {
  const response = await call("/v1/sync/run", { method: "POST", auth: admin });
  expect(response.status, await response.clone().text()).toBe(202);
  const { started, run } = await json<{ started: boolean; run: RunBody }>(response);
  expect(started).toBe(true);
  const finished = await waitForRun(admin, run.generation, timeoutMs);
  await settled(tenant);
  return finished;
}

async function waitForRun(key: string, generation: number, timeoutMs = 40_000): Promise<RunBody> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusBody | undefined;
  while (Date.now() < deadline) {
    last = await status(key);
    if (last.run && last.run.generation >= generation && last.run.state !== "running") return last.run;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  throw new Error(`sync run ${generation} did not finish (last: ${JSON.stringify(last)})`);
}

async function search(key: string, query: string): Promise<SourceBody[]> {
  const response = await call("/v1/search", { auth: key, body: { query, top_k: 10, cache: false } });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await json<{ results: SourceBody[] }>(response)).results;
}

const documentIds = async (tenant: string) =>
  (await tenantSql<{ id: string }>(tenant, "SELECT id FROM documents ORDER BY id")).map((row) => row.id);
const jobCount = async (tenant: string) => (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM jobs"))!.n;
const noChanges = { added: 0, changed: 0, removed: 0 };

describe("bucket sync: the index follows the bucket (happy)", () => {
  it("indexes Markdown, HTML and PDF objects under the prefix; the PDF keeps its pages; the original is served", async () => {
    const { tenant, admin, reader } = await team();
    await put(tenant, "handbook/shipping.md", markdown(MD_FACT), "text/markdown");
    await put(tenant, "handbook/pump manual.html", html(HTML_FACT), "text/html");
    // No Content-Type: the origin reads the key's extension.
    await put(tenant, "handbook/reports/plant.pdf", PDF);
    await put(tenant, "elsewhere/outside.md", markdown("Nothing here is under the prefix."), "text/markdown");

    const attached = await attach(admin, { prefix: "handbook", collection: "manuals" });
    expect(attached.status, await attached.clone().text()).toBe(200);
    expect(await json<StatusBody>(attached)).toMatchObject({
      source: { prefix: "handbook/", collection: "manuals" },
      run: null,
      objects: 0,
    });

    const run = await syncNow(tenant, admin);
    expect(run).toMatchObject({ state: "done", trigger: "manual", counts: { added: 3, changed: 0, removed: 0, unchanged: 0, failed: 0 } });
    expect(run.failures).toEqual([]);
    expect(await documentIds(tenant)).toEqual(["pump-manual.html", "reports-plant.pdf", "shipping.md"]);
    expect((await status(reader)).objects).toBe(3);

    const [pdf] = (await search(reader, "heron index Lisbon plant")).filter((source) => source.document_id === "reports-plant.pdf");
    expect(pdf).toMatchObject({ page: 3 });
    expect(pdf!.text).toContain(PDF_FACT);
    const [page] = (await search(reader, "kestrel valve kilopascals")).filter((source) => source.document_id === "pump-manual.html");
    expect(page).toMatchObject({ section: "Pump manual › Valves" });
    expect((await search(reader, "osprey batch Thursday")).some((source) => source.document_id === "shipping.md")).toBe(true);

    const document = await json<{ collection: string; metadata: Record<string, unknown> }>(
      await call("/v1/documents/reports-plant.pdf", { auth: reader }),
    );
    expect(document).toMatchObject({ collection: "manuals", metadata: { path: "reports/plant.pdf" } });
    const original = await call("/v1/documents/reports-plant.pdf/file", { auth: reader });
    expect(original.status).toBe(200);
    // Put with no type of its own: served as what the origin read it as.
    expect(original.headers.get("content-type")).toBe("application/pdf");
    expect(new Uint8Array(await original.arrayBuffer())).toEqual(PDF);
    expect((await call("/v1/documents/shipping.md/file", { auth: reader })).headers.get("content-type")).toBe("text/markdown");
  });

  it("follows an added, a changed and a deleted object exactly; a second run changes nothing", async () => {
    const { tenant, admin, reader } = await team();
    await put(tenant, "docs/shipping.md", markdown(MD_FACT), "text/markdown");
    await put(tenant, "docs/pumps.html", html(HTML_FACT), "text/html");
    await put(tenant, "docs/plant.pdf", PDF, "application/pdf");
    expect((await attach(admin, { prefix: "docs/" })).status).toBe(200);
    expect((await syncNow(tenant, admin)).counts).toEqual({ added: 3, changed: 0, removed: 0, unchanged: 0, failed: 0 });
    const vectorsBefore = (await tenantSql(tenant, "SELECT id FROM chunks WHERE document_id = 'pumps.html'")).length;
    expect(vectorsBefore).toBeGreaterThan(0);

    await put(tenant, "docs/new/puffins.md", markdown(NEW_FACT), "text/markdown");
    await put(tenant, "docs/shipping.md", markdown(CHANGED_FACT), "text/markdown");
    await remove(tenant, "docs/pumps.html");
    const run = await syncNow(tenant, admin);
    expect(run.counts).toEqual({ added: 1, changed: 1, removed: 1, unchanged: 1, failed: 0 });
    expect(await documentIds(tenant)).toEqual(["new-puffins.md", "plant.pdf", "shipping.md"]);

    // The deleted object's document is gone whole: no chunks, no original, not found.
    expect((await call("/v1/documents/pumps.html", { auth: reader })).status).toBe(404);
    expect(await tenantSql(tenant, "SELECT id FROM chunks WHERE document_id = 'pumps.html'")).toEqual([]);
    expect((await env.FILES.list({ prefix: `tenants/${tenant}/documents/pumps.html/` })).objects).toEqual([]);
    expect((await search(reader, "kestrel valve kilopascals")).some((source) => source.document_id === "pumps.html")).toBe(false);
    // The changed one says what the object says now; the added one is found.
    const shipping = await json<{ text: string }>(await call("/v1/documents/shipping.md", { auth: reader }));
    expect(shipping.text).toContain(CHANGED_FACT);
    expect(shipping.text).not.toContain(MD_FACT);
    expect((await search(reader, "puffin gate dusk")).some((source) => source.document_id === "new-puffins.md")).toBe(true);

    // Nothing changed: the listing is read, no object is, the index version stays, no job is made.
    const [version, jobs] = [await indexVersion(tenant), await jobCount(tenant)];
    const again = await syncNow(tenant, admin);
    expect(again.generation).toBe(run.generation + 1);
    expect(again.counts).toEqual({ ...noChanges, unchanged: 3, failed: 0 });
    expect(await indexVersion(tenant)).toBe(version);
    expect(await jobCount(tenant)).toBe(jobs);

    // The bucket is the source: a synced document deleted by id comes back while its object is there.
    expect((await call("/v1/documents/plant.pdf", { method: "DELETE", auth: admin })).status).toBe(204);
    expect((await syncNow(tenant, admin)).counts).toEqual({ added: 1, changed: 0, removed: 0, unchanged: 2, failed: 0 });
    expect(await documentIds(tenant)).toEqual(["new-puffins.md", "plant.pdf", "shipping.md"]);
  });

  it("replacing the prefix removes the documents of keys no longer under it and indexes the new ones", async () => {
    const { tenant, admin } = await team();
    await put(tenant, "a/one.md", markdown(MD_FACT), "text/markdown");
    await put(tenant, "b/two.md", markdown(NEW_FACT), "text/markdown");
    expect((await attach(admin, { prefix: "a" })).status).toBe(200);
    await syncNow(tenant, admin);
    expect(await documentIds(tenant)).toEqual(["one.md"]);
    expect((await attach(admin, { prefix: "b" })).status).toBe(200);
    expect((await syncNow(tenant, admin)).counts).toEqual({ added: 1, changed: 0, removed: 1, unchanged: 0, failed: 0 });
    expect(await documentIds(tenant)).toEqual(["two.md"]);
  });
});

describe("bucket sync: failures and resumption (error)", () => {
  it("a corrupt object fails alone, with the origin's error code; the others are indexed; its bytes are not read again", async () => {
    const { tenant, admin } = await team();
    await put(tenant, "broken.pdf", PDF.slice(0, 700), "application/pdf");
    await put(tenant, "good.md", markdown(MD_FACT), "text/markdown");
    await put(tenant, "pumps.html", html(HTML_FACT), "text/html");
    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    const run = await syncNow(tenant, admin);
    expect(run.counts).toEqual({ added: 2, changed: 0, removed: 0, unchanged: 0, failed: 1 });
    expect(run.failures).toEqual([{ key: "broken.pdf", error: expect.stringMatching(/^FILE_CORRUPT: /) }]);
    expect(await documentIds(tenant)).toEqual(["good.md", "pumps.html"]);

    const jobs = await jobCount(tenant);
    const again = await syncNow(tenant, admin);
    expect(again.counts).toEqual({ ...noChanges, unchanged: 2, failed: 1 });
    expect(again.failures).toEqual(run.failures);
    expect(await jobCount(tenant)).toBe(jobs);

    // Fixed bytes are read again, and the failure is gone.
    await put(tenant, "broken.pdf", PDF, "application/pdf");
    const fixed = await syncNow(tenant, admin);
    expect(fixed.counts).toEqual({ added: 1, changed: 0, removed: 0, unchanged: 2, failed: 0 });
    expect(fixed.failures).toEqual([]);
    expect(await documentIds(tenant)).toEqual(["broken.pdf", "good.md", "pumps.html"]);
  });

  it("two keys that make one document id: the one seen second fails with DOCUMENT_ID_TAKEN, the first keeps its document", async () => {
    const { tenant, admin } = await team("sync-clash");
    // "a b.md" lists before "a-b.md" (a space sorts before "-"); both make the id a-b.md.
    await put(tenant, "a b.md", markdown(MD_FACT), "text/markdown");
    await put(tenant, "a-b.md", markdown(NEW_FACT), "text/markdown");
    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    const run = await syncNow(tenant, admin);
    expect(run.counts).toEqual({ added: 1, changed: 0, removed: 0, unchanged: 0, failed: 1 });
    expect(run.failures).toEqual([{ key: "a-b.md", error: "DOCUMENT_ID_TAKEN: the key a b.md makes the same document id (a-b.md)" }]);
    const document = await json<{ text: string }>(await call("/v1/documents/a-b.md", { auth: admin }));
    expect(document.text).toContain(MD_FACT);
  });

  it("a run stopped after a page resumes from its cursor, once, and indexes no object twice", async () => {
    const { tenant, admin } = await team();
    const keys = ["a.md", "b.md", "c.md", "d.md", "e.md"];
    for (const [i, key] of keys.entries())
      await put(tenant, `notes/${key}`, markdown(`Note ${key} says the number is ${1000 + i}.`), "text/markdown");
    expect((await attach(admin, { prefix: "notes" })).status).toBe(200);
    const sync = localServices(env).bucketSync;
    const started = await tenantObject(tenant).startSyncRun("manual", Date.now());
    expect(started).toMatchObject({ started: true });
    const generation = started!.run.generation;
    // A run already in progress is not started twice.
    expect(await tenantObject(tenant).startSyncRun("manual", Date.now())).toMatchObject({ started: false, run: { generation } });

    // The first worker stops after one page of two keys (as at its budget), its cursor persisted.
    const options = { pageSize: 2, continueLater: false };
    expect(await sync.run(tenant, { holder: "worker-1", trigger: "manual", generation }, { ...options, maxPages: 1 })).toEqual({
      status: "paused",
      generation,
    });
    const paused = await tenantFirst<{ cursor: string | null; state: string; added: number }>(
      tenant,
      "SELECT cursor, state, added FROM sync_runs WHERE generation = ?1",
      generation,
    );
    expect(paused).toMatchObject({ state: "running", added: 2 });
    expect(paused!.cursor).not.toBeNull();

    // Another worker holds a live lease: nobody else works on the run.
    const object = tenantObject(tenant);
    expect(
      await object.claimSyncRun({ holder: "worker-2", trigger: "manual", generation, now: Date.now(), leaseMs: SYNC_LEASE_MS }),
    ).not.toBeNull();
    expect(await sync.run(tenant, { holder: "worker-3", trigger: "manual", generation }, options)).toEqual({ status: "skipped" });
    // worker-2 died: once its lease ends, worker-3 takes the run over. And it died before it
    // persisted the cursor of a page it had settled: the page is listed again, and its keys skipped.
    await tenantSql(tenant, "UPDATE sync_runs SET lease_until = ?2, cursor = NULL WHERE generation = ?1", generation, Date.now() - 1);
    expect(await sync.run(tenant, { holder: "worker-3", trigger: "manual", generation }, options)).toEqual({ status: "done", generation });
    await settled(tenant);

    const run = (await status(admin)).run!;
    expect(run).toMatchObject({ generation, state: "done", counts: { added: 5, changed: 0, removed: 0, unchanged: 0, failed: 0 } });
    expect(await documentIds(tenant)).toEqual(keys);
    // One job per object: none was accepted twice.
    expect(await jobCount(tenant)).toBe(5);
    expect(await tenantSql(tenant, "SELECT document_id, COUNT(*) AS n FROM job_documents GROUP BY document_id HAVING n > 1")).toEqual([]);
    // A finished run is not run again by its message's retry.
    expect(await sync.run(tenant, { holder: "worker-1", trigger: "manual", generation }, options)).toEqual({ status: "skipped" });
  });
});

describe("bucket sync: one run at a time (error)", () => {
  it("POST /v1/sync/run while a run is in progress answers that run, started: false, and no second worker takes it", async () => {
    const { tenant, admin } = await team("sync-busy");
    await put(tenant, "busy.md", markdown(MD_FACT), "text/markdown");
    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    const object = tenantObject(tenant);
    const { run } = (await object.startSyncRun("manual", Date.now()))!;
    // A live worker holds the run.
    expect(await object.claimSyncRun({ holder: "busy-worker", trigger: "manual", now: Date.now(), leaseMs: SYNC_LEASE_MS })).not.toBeNull();

    const response = await call("/v1/sync/run", { method: "POST", auth: admin });
    expect(response.status).toBe(202);
    expect(await json(response)).toMatchObject({
      started: false,
      run: { generation: run.generation, state: "running" },
      status_url: "/v1/sync",
    });
    // The message it queued was consumed, and left the run to its worker.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await tenantSql(tenant, "SELECT generation, state, lease_holder, added FROM sync_runs")).toEqual([
      { generation: run.generation, state: "running", lease_holder: "busy-worker", added: 0 },
    ]);
    expect(await documentIds(tenant)).toEqual([]);
  });
});

describe("bucket sync: the cron trigger (happy)", () => {
  it("the scheduled handler enqueues a sync for each tenant with a source, and the consumer runs it", async () => {
    const { tenant, admin } = await team("sync-cron");
    const detached = await team("sync-cron-off");
    await put(tenant, "cron.md", markdown(NEW_FACT), "text/markdown");
    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    expect((await attach(detached.admin, { prefix: "" })).status).toBe(200);
    expect((await call("/v1/sync", { method: "DELETE", auth: detached.admin })).status).toBe(204);

    const listed = (await env.DB.prepare("SELECT tenant FROM sync_sources WHERE tenant IN (?1, ?2)").bind(tenant, detached.tenant).all())
      .results;
    expect(listed).toEqual([{ tenant }]);

    // The worker's own scheduled handler, as Cloudflare calls it on the cron.
    await worker.scheduled!(createScheduledController({ cron: "*/15 * * * *", scheduledTime: Date.now() }), env);
    const run = await waitForRun(admin, 1);
    expect(run).toMatchObject({ trigger: "scheduled", state: "done", counts: { added: 1 } });
    await settled(tenant);
    expect(await documentIds(tenant)).toEqual(["cron.md"]);
  });
});

describe("bucket sync: isolation and validation (security)", () => {
  it("a tenant cannot name, list or read another tenant's keys", async () => {
    const owner = await team("sync-owner");
    const stranger = await team("sync-stranger");
    await put(owner.tenant, "secret/plan.md", markdown("The owner's secret plan is code 5521."), "text/markdown");

    for (const prefix of [
      `../${owner.tenant}/sources/secret`,
      "../../",
      "secret/../../x",
      "./secret",
      "a//b",
      "/secret",
      "a\\b",
      "a\u0001b",
    ]) {
      const response = await attach(stranger.admin, { prefix });
      expect(response.status, prefix).toBe(400);
    }
    // The stranger's whole area holds none of the owner's keys.
    expect((await attach(stranger.admin, { prefix: "" })).status).toBe(200);
    const run = await syncNow(stranger.tenant, stranger.admin);
    expect(run.counts).toEqual({ added: 0, changed: 0, removed: 0, unchanged: 0, failed: 0 });
    expect(await documentIds(stranger.tenant)).toEqual([]);

    // The port itself: keys relative to the tenant's own prefix only.
    const sources = createR2SourceBucket(env.SOURCES);
    expect((await sources.list(stranger.tenant, "", { limit: 100 })).objects).toEqual([]);
    expect((await sources.list(owner.tenant, "secret/", { limit: 100 })).objects.map((object) => object.key)).toEqual(["plan.md"]);
    expect(await sources.get(stranger.tenant, "", `../../${owner.tenant}/sources/secret/plan.md`)).toBeNull();
    expect(await sources.get(owner.tenant, "secret/", "plan.md")).toMatchObject({ key: "plan.md", contentType: "text/markdown" });
  });

  it("readers may read the status, not attach, run or detach; writers neither", async () => {
    const { tenant, admin, reader } = await team("sync-roles");
    const writer = (await createKey(tenant, ["writer"])).key;
    expect((await attach(admin, { prefix: "x" })).status).toBe(200);
    for (const key of [reader, writer]) {
      expect((await attach(key, { prefix: "y" })).status).toBe(403);
      expect((await call("/v1/sync/run", { method: "POST", auth: key })).status).toBe(403);
      expect((await call("/v1/sync", { method: "DELETE", auth: key })).status).toBe(403);
    }
    expect((await status(reader)).source.prefix).toBe("x/");
    expect(await tenantSql(tenant, "SELECT generation FROM sync_runs")).toEqual([]);
    expect(await call("/v1/sync")).toHaveProperty("status", 401);
  });

  it("a bad prefix or collection is a 400 that changes nothing", async () => {
    const { tenant, admin } = await team("sync-bad");
    for (const body of [
      { prefix: "../x" },
      { prefix: "a".repeat(513) },
      { prefix: "ok", collection: "Not A Collection" },
      {},
      { prefix: "ok", extra: 1 },
    ]) {
      const response = await attach(admin, body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    }
    expect((await call("/v1/sync", { auth: admin })).status).toBe(404);
    expect(await env.DB.prepare("SELECT tenant FROM sync_sources WHERE tenant = ?1").bind(tenant).first()).toBeNull();

    expect((await attach(admin, { prefix: "kept", collection: "kept" })).status).toBe(200);
    expect((await attach(admin, { prefix: "../x" })).status).toBe(400);
    expect((await status(admin)).source).toMatchObject({ prefix: "kept/", collection: "kept" });
  });

  it("without a source: 404 for the status, a run and a detach; detaching keeps the synced documents", async () => {
    const { tenant, admin } = await team("sync-none");
    for (const [path, method] of [
      ["/v1/sync", "GET"],
      ["/v1/sync/run", "POST"],
      ["/v1/sync", "DELETE"],
    ] as const) {
      const response = await call(path, { method, auth: admin });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(await json(response)).toMatchObject({ code: "NOT_FOUND" });
    }
    await put(tenant, "keep.md", markdown(MD_FACT), "text/markdown");
    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    await syncNow(tenant, admin);
    expect((await call("/v1/sync", { method: "DELETE", auth: admin })).status).toBe(204);
    expect((await call("/v1/sync", { auth: admin })).status).toBe(404);
    expect(await documentIds(tenant)).toEqual(["keep.md"]);
    expect(await tenantSql(tenant, "SELECT key FROM sync_objects")).toEqual([]);
  });
});

describe("bucket sync: a sharded tenant (happy)", () => {
  /** The tenant's document ids across its shards (GET /v1/documents), once none is queued. */
  async function listedIds(key: string): Promise<string[]> {
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline) {
      const page = await json<{ documents: Array<{ id: string; status: string }> }>(await call("/v1/documents?limit=100", { auth: key }));
      if (page.documents.every((document) => document.status !== "queued")) return page.documents.map((document) => document.id);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    throw new Error("documents still queued");
  }

  it("keeps the sync state in shard 0 while documents go to their shards; one deleted on another shard comes back", async () => {
    const tenant = uniqueTenant("sync-shards");
    await env.DB.prepare("INSERT INTO tenants (tenant, updated_at, shards) VALUES (?1, 0, 4)").bind(tenant).run();
    const { key: admin } = await createKey(tenant, ["admin"]);
    const names = Array.from({ length: 8 }, (_, i) => `n${i}.md`);
    for (const [i, name] of names.entries())
      await put(tenant, name, markdown(`Shard note ${name} holds the number ${2000 + i}.`), "text/markdown");
    const elsewhere = names.find((name) => shardOf(name, 4) !== 0)!;
    expect(elsewhere).toBeDefined();

    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    const first = await json<{ run: RunBody }>(await call("/v1/sync/run", { method: "POST", auth: admin }));
    expect((await waitForRun(admin, first.run.generation)).counts).toEqual({ added: 8, changed: 0, removed: 0, unchanged: 0, failed: 0 });
    expect(await listedIds(admin)).toEqual(names);
    expect(await tenantSql(tenant, "SELECT COUNT(*) AS n FROM sync_objects WHERE synced = 1")).toEqual([{ n: 8 }]);

    expect((await call(`/v1/documents/${elsewhere}`, { method: "DELETE", auth: admin })).status).toBe(204);
    const second = await json<{ run: RunBody }>(await call("/v1/sync/run", { method: "POST", auth: admin }));
    expect((await waitForRun(admin, second.run.generation)).counts).toEqual({ added: 1, changed: 0, removed: 0, unchanged: 7, failed: 0 });
    expect(await listedIds(admin)).toEqual(names);
  });
});

describe("bucket sync: deleting the tenant (happy)", () => {
  it("deletes its source: the cron no longer lists it, and its object holds none", async () => {
    const { tenant, admin } = await team("sync-gone");
    expect((await attach(admin, { prefix: "" })).status).toBe(200);
    await localServices(env).tenantAdmin.delete(tenant);
    expect(await env.DB.prepare("SELECT tenant FROM sync_sources WHERE tenant = ?1").bind(tenant).first()).toBeNull();
    expect(await tenantObject(tenant).syncStatus(10)).toBeNull();
  });
});

describe("bucket sync: pieces (unit)", () => {
  it("makes a key's document id from its path relative to the prefix", () => {
    expect(syncDocumentId("guides/install.md")).toBe("guides-install.md");
    expect(syncDocumentId("Q3 report.pdf")).toBe("Q3-report.pdf");
    expect(syncDocumentId("///")).toBeNull();
  });

  it("keeps the queue's earlier messages parsing beside the sync message", () => {
    for (const body of [
      { v: 1, tenant: "t", job_id: "job_1", document_ids: ["a"] },
      { v: 1, tenant: "t", sweep: true },
      { v: 1, tenant: "t", sync: "scheduled" },
      { v: 1, tenant: "t", sync: "manual", generation: 3 },
    ])
      expect(QueueMessageSchema.safeParse(body).success, JSON.stringify(body)).toBe(true);
    expect(QueueMessageSchema.safeParse({ v: 1, tenant: "t", sync: "sometimes" }).success).toBe(false);
  });
});
