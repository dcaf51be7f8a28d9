import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DocumentMetadata } from "../../src/ingest/document-input";
import { contentHash } from "../../src/ingest/hashing";
import { planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import type { AcceptedDocument, ReadyDocument, StorageQuota, TenantData } from "../../src/tenant/tenant-data";
import { FTS_TOKENIZER, migrateTenantSchema, TENANT_SCHEMA } from "../../src/tenant/tenant-schema";
import { uniqueTenant } from "./helpers";

/** The tenant's object, as the worker reaches it. */
const tenantObject = (tenant = uniqueTenant("tdo")) => env.TENANT_DATA.get(env.TENANT_DATA.idFromName(tenant));
type Stub = ReturnType<typeof tenantObject>;

const ROOMY: StorageQuota = { maxDocuments: 1_000, maxBytes: 10_000_000, maxChunks: 10_000 };

async function accepted(id: string, text: string, metadata: DocumentMetadata = {}, collection = "default"): Promise<AcceptedDocument> {
  return { id, collection, text, metadata, hash: await contentHash(collection, text, metadata) };
}

/** Accepts documents, then commits each as one chunk per paragraph, as the indexer would. */
async function indexNow(stub: Stub, documents: AcceptedDocument[], quota = ROOMY) {
  const accept = await stub.accept({ documents, quota, now: Date.now() });
  if (!accept.ok) throw new Error(accept.detail);
  const { work } = await stub.loadWork(documents.map((document) => ({ documentId: document.id, contentHash: document.hash })));
  const ready: ReadyDocument[] = work.map((document) => ({
    id: document.id,
    contentHash: document.content_hash,
    revision: document.revision,
    collection: document.collection,
    title: String((JSON.parse(document.metadata) as DocumentMetadata).title ?? ""),
    chunks: document.text
      .split("\n\n")
      .map((text, index) => ({ id: `c_${document.id}_${document.revision}_${index}`, index, text, start: 0, end: text.length })),
  }));
  const commit = await stub.commit({ ready, failed: [], skipped: [], model: "test-model", maxChunks: quota.maxChunks, now: Date.now() });
  if (!commit.ok) throw new Error(commit.reason);
  return commit;
}

const search = async (stub: Stub, text: string, hydrate = false) =>
  stub.keywordSearch({ match: toFtsMatchExpression(text)!, plan: planFilters(undefined), limit: 10, hydrate });

/** What the counters should say, counted from the rows themselves. */
const counted = (stub: Stub) =>
  runInDurableObject(stub, (_instance: TenantData, state) => {
    const one = (sql: string) => state.storage.sql.exec<{ n: number }>(sql).one().n;
    return {
      documents: one("SELECT COUNT(*) AS n FROM documents"),
      chunks: one("SELECT COUNT(*) AS n FROM chunks"),
      bytes: one("SELECT COALESCE(SUM(length(CAST(text AS BLOB)) + length(CAST(accepted_metadata AS BLOB))), 0) AS n FROM documents"),
      collections: one("SELECT COUNT(DISTINCT collection) AS n FROM documents"),
    };
  });

describe("FTS5 in Durable Object SQLite under workerd", () => {
  it("indexes with today's tokenizer (porter stemming, diacritics removed) and weighs columns in bm25 (happy)", async () => {
    const result = await runInDurableObject(tenantObject(), (_instance: TenantData, state) => {
      const { sql } = state.storage;
      sql.exec(`CREATE VIRTUAL TABLE probe USING fts5 (text, title, content = '', tokenize = '${FTS_TOKENIZER}')`);
      sql.exec("CREATE TABLE probe_rows (seq INTEGER PRIMARY KEY, text TEXT, title TEXT)");
      sql.exec(
        "CREATE TRIGGER probe_ai AFTER INSERT ON probe_rows BEGIN INSERT INTO probe (rowid, text, title) VALUES (new.seq, new.text, new.title); END",
      );
      sql.exec("INSERT INTO probe_rows VALUES (1, 'The glaciers were running down the valley', 'Ice')");
      sql.exec("INSERT INTO probe_rows VALUES (2, 'A café in Zürich serves coffee', 'Glacier views')");
      sql.exec("INSERT INTO probe_rows VALUES (3, 'Nothing to see here', 'Plain')");
      const ids = (match: string, weights: string) =>
        sql
          .exec<{ rowid: number }>(`SELECT rowid FROM probe WHERE probe MATCH ?1 ORDER BY bm25(probe, ${weights}), rowid`, match)
          .toArray()
          .map((row) => row.rowid);
      return {
        stemmed: ids('"run"', "1.0, 3.0"),
        folded: ids('"cafe" OR "zurich"', "1.0, 3.0"),
        titleHeavy: ids('"glacier"', "1.0, 3.0"),
        textHeavy: ids('"glacier"', "3.0, 0.1"),
      };
    });
    expect(result.stemmed).toEqual([1]);
    expect(result.folded).toEqual([2]);
    // The same two matches, ordered by which column counts more.
    expect(result.titleHeavy).toEqual([2, 1]);
    expect(result.textHeavy).toEqual([1, 2]);
  });

  it("keeps each object's BM25 statistics its own (security: per-tenant isolation)", async () => {
    const alone = tenantObject();
    const crowded = tenantObject();
    const probe = await accepted("probe", "Glaciers carve valleys over centuries of slow movement.");
    await indexNow(alone, [probe]);
    await indexNow(crowded, [probe]);
    const before = (await search(alone, "glaciers valleys")).hits;
    // Another tenant's vocabulary changes its own statistics, never this one's.
    await indexNow(
      crowded,
      await Promise.all(Array.from({ length: 20 }, (_, i) => accepted(`noise-${i}`, `Glaciers glaciers everywhere, item ${i}.`))),
    );
    const after = (await search(alone, "glaciers valleys")).hits;
    expect(after).toEqual(before);
    const elsewhere = (await search(crowded, "glaciers valleys")).hits.find((hit) => hit.id === before[0]!.id);
    expect(elsewhere?.bm25).not.toBe(before[0]!.bm25);
  });
});

describe("TenantData schema", () => {
  it("is migrated once, in versions, and migrating again changes nothing (happy)", async () => {
    const stub = tenantObject();
    const versions = await runInDurableObject(stub, (_instance: TenantData, state) => {
      const first = state.storage.sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;
      return { first, again: migrateTenantSchema(state.storage) };
    });
    expect(versions).toEqual({ first: TENANT_SCHEMA.length, again: TENANT_SCHEMA.length });
  });
});

describe("the object's wake-up", () => {
  const alarmOf = (stub: Stub) => runInDurableObject(stub, (_instance: TenantData, state) => state.storage.getAlarm());

  it("is set while a job is open; a commit that finishes it with nothing left to repair cancels it (happy)", async () => {
    const stub = tenantObject();
    const document = await accepted("fresh", "Glaciers carve valleys.");
    // A new document: once its job is done there are no open jobs and no vector ids to delete.
    const accept = await stub.accept({ documents: [document], job: { id: "job_wake" }, quota: ROOMY, now: Date.now() });
    if (!accept.ok) throw new Error(accept.detail);
    expect(await alarmOf(stub)).not.toBeNull();
    const { work } = await stub.loadWork([{ documentId: document.id, contentHash: document.hash }]);
    const ready: ReadyDocument[] = work.map((row) => ({
      id: row.id,
      contentHash: row.content_hash,
      revision: row.revision,
      collection: row.collection,
      title: "",
      chunks: [{ id: `c_${row.id}_${row.revision}_0`, index: 0, text: row.text, start: 0, end: row.text.length }],
    }));
    const commit = await stub.commit({ ready, failed: [], skipped: [], jobId: "job_wake", model: "m", maxChunks: 100, now: Date.now() });
    expect(commit.ok).toBe(true);
    expect((await stub.job("job_wake"))?.status).toBe("done");
    expect(await alarmOf(stub)).toBeNull();
  });

  it("is set after a commit that leaves vector ids to delete (a replaced document's old chunks)", async () => {
    const stub = tenantObject();
    await indexNow(stub, [await accepted("doc", "First version.")]);
    await runInDurableObject(stub, (_instance: TenantData, state) => state.storage.deleteAlarm());
    await indexNow(stub, [await accepted("doc", "Second version.")]);
    expect(await alarmOf(stub)).not.toBeNull();
  });

  it("asks about open jobs through an index, not a scan of every job", async () => {
    const plan = await runInDurableObject(tenantObject(), (_instance: TenantData, state) =>
      state.storage.sql
        .exec<{ detail: string }>("EXPLAIN QUERY PLAN SELECT 1 FROM jobs WHERE finished_at IS NULL OR status = 'held' LIMIT 1")
        .toArray()
        .map((row) => row.detail),
    );
    expect(plan.join("\n")).toContain("jobs_open");
  });
});

describe("TenantData ingest", () => {
  it("accepts, indexes, finds and hydrates a tenant's documents, counters in step with the rows (happy)", async () => {
    const stub = tenantObject();
    const volcano = await accepted("volcano", "Basaltic lava flows from shield volcanoes.\n\nEruptions build islands.", {
      title: "Volcanoes",
    });
    const glacier = await accepted("glacier", "Glaciers carve valleys.", { lang: "en" }, "geo");
    const commit = await indexNow(stub, [volcano, glacier]);
    expect(commit.outcomes).toEqual([
      { document_id: "volcano", status: "done", chunks: 2 },
      { document_id: "glacier", status: "done", chunks: 1 },
    ]);
    expect(commit.indexVersion).toBe(1);

    const { hits, chunks } = await search(stub, "lava eruptions", true);
    expect(hits.map((hit) => hit.id).sort()).toEqual(chunks.map((chunk) => chunk.id).sort());
    expect(chunks.every((chunk) => chunk.document_id === "volcano" && chunk.metadata.title === "Volcanoes")).toBe(true);
    const filtered = await stub.keywordSearch({
      match: toFtsMatchExpression("valleys lava")!,
      plan: planFilters({ collection: "geo" }),
      limit: 10,
    });
    expect(filtered.hits).toHaveLength(1);
    const hydrated = await stub.hydrate({ ids: [filtered.hits[0]!.id, "c_missing"], plan: planFilters({ lang: "en" }) });
    expect(hydrated.map((chunk) => chunk.document_id)).toEqual(["glacier"]);

    const stats = await stub.stats();
    expect(stats).toMatchObject({ ...(await counted(stub)), index_version: 1, embedding_model: "test-model" });
    expect(stats.collections).toBe(2);
    expect((await stub.getDocument("glacier"))?.status).toBe("indexed");
    expect((await stub.listDocuments({ limit: 1 })).nextAfter).toBe("glacier");
  });

  it("removes a document with its chunks and records their vectors for deletion (happy)", async () => {
    const stub = tenantObject();
    await indexNow(stub, [await accepted("a", "Lava and ash.\n\nMore lava."), await accepted("b", "Ice sheets.")]);
    const chunkIds = (await search(stub, "lava")).hits.map((hit) => hit.id);
    expect(chunkIds).toHaveLength(2);
    expect(await stub.remove("a", 0)).toBe(true);
    expect(await stub.remove("a", 0)).toBe(false);
    expect((await search(stub, "lava")).hits).toEqual([]);
    expect(await stub.countChunks(chunkIds)).toBe(0);
    expect((await stub.dueVectorDeletions(Date.now(), 10)).sort()).toEqual([...chunkIds].sort());
    await stub.forgetVectorDeletions(chunkIds);
    expect(await stub.dueVectorDeletions(Date.now(), 10)).toEqual([]);
    expect(await stub.stats()).toMatchObject({ ...(await counted(stub)), documents: 1, index_version: 2 });
  });

  it("skips a commit for a version the document has left, and records its fresh vectors for deletion (happy)", async () => {
    const stub = tenantObject();
    const first = await accepted("doc", "First text.");
    const job = { id: "job_first" };
    expect((await stub.accept({ documents: [first], job, quota: ROOMY, now: 1 })).ok).toBe(true);
    const { work } = await stub.loadWork([{ documentId: "doc", contentHash: first.hash }]);
    // A newer version arrives while the first is being embedded.
    expect((await stub.accept({ documents: [await accepted("doc", "Second text.")], quota: ROOMY, now: 2 })).ok).toBe(true);
    const stale = work[0]!;
    const commit = await stub.commit({
      ready: [
        {
          id: "doc",
          contentHash: stale.content_hash,
          revision: stale.revision,
          collection: "default",
          title: "",
          chunks: [{ id: "c_stale", index: 0, text: "First text.", start: 0, end: 11 }],
        },
      ],
      failed: [],
      skipped: [],
      model: null,
      jobId: job.id,
      maxChunks: 100,
      now: 3,
    });
    expect(commit).toEqual({ ok: true, outcomes: [{ document_id: "doc", status: "skipped", reason: "superseded" }], indexVersion: 0 });
    expect(await stub.dueVectorDeletions(3, 10)).toEqual(["c_stale"]);
    expect(await stub.job(job.id)).toMatchObject({ status: "done", skipped: 1, processed: 0, chunks: 0 });
    expect((await stub.stats()).chunks).toBe(0);
  });

  it("reports a job's documents as they are indexed or fail (happy)", async () => {
    const stub = tenantObject();
    const good = await accepted("good", "Good text.");
    const bad = await accepted("bad", "Bad text.");
    const job = { id: "job_mixed" };
    await stub.accept({ documents: [good, bad], job, quota: ROOMY, now: 1 });
    expect(await stub.job(job.id)).toMatchObject({ status: "queued", documents: 2, queued: 2 });
    const { work } = await stub.loadWork([
      { documentId: "good", contentHash: good.hash },
      { documentId: "bad", contentHash: bad.hash },
    ]);
    const ready = work.find((document) => document.id === "good")!;
    await stub.commit({
      ready: [
        {
          id: "good",
          contentHash: ready.content_hash,
          revision: ready.revision,
          collection: "default",
          title: "",
          chunks: [{ id: "c_good", index: 0, text: "Good text.", start: 0, end: 10 }],
        },
      ],
      failed: [{ id: "bad", contentHash: bad.hash, error: "ORIGIN_REJECTED: no" }],
      skipped: [],
      model: null,
      jobId: job.id,
      maxChunks: 100,
      now: 2,
    });
    expect(await stub.job(job.id)).toMatchObject({
      status: "failed",
      processed: 1,
      failed: 1,
      queued: 0,
      chunks: 1,
      errors: [{ document_id: "bad", error: "ORIGIN_REJECTED: no" }],
      index_version: 1,
    });
    expect((await stub.getDocument("bad"))?.status).toBe("failed");
    expect(await stub.job("job_unknown")).toBeNull();
  });
});

describe("TenantData job bookkeeping (the queue consumers and the sweep)", () => {
  it("lists a job's pending documents, marks it processing, records attempts and gives up on what is still current (happy)", async () => {
    const stub = tenantObject();
    const current = await accepted("current", "Still the current content.");
    const replaced = await accepted("replaced", "Content replaced before the job gave up.");
    const job = { id: "job_dead" };
    await stub.accept({ documents: [current, replaced], job, quota: ROOMY, now: 1 });
    expect(await stub.pendingJobDocuments(job.id, ["replaced"])).toEqual([
      { documentId: "replaced", contentHash: replaced.hash, textLength: replaced.text.length },
    ]);
    expect((await stub.pendingJobDocuments(job.id)).map((pending) => pending.documentId)).toEqual(["current", "replaced"]);
    await stub.markProcessing(job.id, 2);
    expect((await stub.job(job.id))?.status).toBe("processing");

    await stub.recordAttempt(job.id, ["current", "replaced"], 5, "ORIGIN_UNAVAILABLE: down", 3);
    await stub.accept({ documents: [await accepted("replaced", "A newer version.")], quota: ROOMY, now: 4 });
    await stub.giveUp(job.id, ["current", "replaced"], 5);
    expect(await stub.job(job.id)).toMatchObject({
      status: "failed",
      failed: 1,
      skipped: 1,
      queued: 0,
      errors: [{ document_id: "current", error: "gave up after 5 attempt(s); last error: ORIGIN_UNAVAILABLE: down" }],
    });
    expect(await stub.getDocument("current")).toMatchObject({
      status: "failed",
      error: "gave up after 5 attempt(s); last error: ORIGIN_UNAVAILABLE: down",
    });
    expect((await stub.getDocument("replaced"))?.status).toBe("queued");
    expect(await stub.pendingJobDocuments(job.id)).toEqual([]);
  });

  it("names the jobs the sweep must enqueue: never enqueued past the grace, and stalled without progress (happy)", async () => {
    const stub = tenantObject();
    const doc = async (id: string) => [await accepted(id, `Text of ${id}.`)];
    await stub.accept({ documents: await doc("a"), job: { id: "job_never" }, quota: ROOMY, now: 100 });
    await stub.accept({ documents: await doc("b"), job: { id: "job_sent" }, quota: ROOMY, now: 100 });
    await stub.markEnqueued("job_sent", 150);
    await stub.accept({ documents: await doc("c"), job: { id: "job_young" }, quota: ROOMY, now: 900 });
    expect(await stub.jobsToEnqueue(500, 120, 10)).toEqual({ unenqueued: ["job_never"], stalled: [] });
    expect(await stub.jobsToEnqueue(500, 200, 10)).toEqual({ unenqueued: ["job_never"], stalled: ["job_sent"] });
    // Sent again by the sweep: not stalled again until a new window has passed.
    await stub.markEnqueued("job_sent", 300, { resent: true });
    expect((await stub.jobsToEnqueue(500, 200, 10)).stalled).toEqual([]);
    // A first send never moves a job already marked.
    await stub.markEnqueued("job_sent", 50);
    expect((await stub.jobsToEnqueue(500, 200, 10)).stalled).toEqual([]);
  });
});

describe("TenantData quotas", () => {
  it("refuses documents and bytes past the quota and writes nothing (error)", async () => {
    const stub = tenantObject();
    const quota = { maxDocuments: 2, maxBytes: 40, maxChunks: 100 };
    const three = await Promise.all(["a", "b", "c"].map((id) => accepted(id, "x")));
    expect(await stub.accept({ documents: three, quota, now: 1 })).toMatchObject({
      ok: false,
      quota: "documents",
      limit: 2,
      usage: 0,
    });
    const big = await accepted("big", "y".repeat(41));
    expect(await stub.accept({ documents: [big], quota, now: 1 })).toMatchObject({
      ok: false,
      quota: "bytes",
      limit: 40,
      usage: 0,
    });
    expect(await stub.stats()).toMatchObject({ documents: 0, bytes: 0 });
    // Replacing a document by id counts once.
    expect((await stub.accept({ documents: three.slice(0, 2), quota, now: 1 })).ok).toBe(true);
    expect((await stub.accept({ documents: [await accepted("a", "changed")], quota, now: 2 })).ok).toBe(true);
    expect(await stub.stats()).toMatchObject({ ...(await counted(stub)), documents: 2 });
  });

  it("holds against concurrent ingests: 10 of 2 documents under a quota of 5 store at most 4 (security)", async () => {
    const stub = tenantObject();
    const quota = { maxDocuments: 5, maxBytes: 1_000_000, maxChunks: 100 };
    const results = await Promise.all(
      Array.from({ length: 10 }, async (_, i) =>
        stub.accept({ documents: [await accepted(`p${i}a`, "one"), await accepted(`p${i}b`, "two")], quota, now: i }),
      ),
    );
    expect(results.filter((result) => result.ok)).toHaveLength(2);
    expect((await stub.stats()).documents).toBe(4);
  });

  it("refuses an indexing commit whole when its chunks exceed the chunk quota (error)", async () => {
    const stub = tenantObject();
    const doc = await accepted("doc", "one\n\ntwo\n\nthree");
    await stub.accept({ documents: [doc], quota: ROOMY, now: 1 });
    const { work } = await stub.loadWork([{ documentId: "doc", contentHash: doc.hash }]);
    const chunks = ["one", "two", "three"].map((text, index) => ({ id: `c_${index}`, index, text, start: 0, end: 1 }));
    const ready = { id: "doc", contentHash: doc.hash, revision: work[0]!.revision, collection: "default", title: "", chunks };
    expect(await stub.admitChunks([{ id: "doc", chunks: 3 }], 2)).toEqual({
      admitted: [],
      overQuota: [{ id: "doc", error: "QUOTA_EXCEEDED: its 3 chunks would take the tenant to 3; its chunk quota is 2" }],
    });
    expect(await stub.commit({ ready: [ready], failed: [], skipped: [], model: null, maxChunks: 2, now: 2 })).toEqual({
      ok: false,
      reason: "chunk_quota",
    });
    expect(await stub.stats()).toMatchObject({ chunks: 0, index_version: 0 });
    expect((await stub.getDocument("doc"))?.status).toBe("queued");
  });

  it("re-sending an unchanged document under a full quota reads O(1) rows, however many the tenant stores (happy)", async () => {
    // The same re-send against a tenant of 10 and one of 200 documents, each at its documents quota.
    const costs = [];
    for (const size of [10, 200]) {
      const stub = tenantObject();
      const quota = { maxDocuments: size, maxBytes: 10_000_000, maxChunks: 10_000 };
      const filler = await Promise.all(Array.from({ length: size - 1 }, (_, i) => accepted(`f${i}`, `Filler document ${i}.`)));
      expect((await stub.accept({ documents: filler, quota, now: 1 })).ok).toBe(true);
      const same = await accepted("same", "An unchanged document.");
      await indexNow(stub, [same], quota);
      const resend = await stub.accept({ documents: [same], job: { id: "job_resend" }, quota, now: 2 });
      expect(resend).toMatchObject({ ok: true, documents: [{ id: "same", unchanged: true }] });
      if (resend.ok) costs.push(resend.cost.rowsRead);
      expect((await stub.job("job_resend"))?.status).toBe("done");
    }
    expect(costs[0]).toBe(costs[1]);
    expect(costs[0]).toBeLessThanOrEqual(4);
  });
});

describe("TenantData deletion", () => {
  it("destroy removes everything the object stores, and moves its index version and cache epoch on, never back (happy)", async () => {
    const stub = tenantObject();
    await indexNow(stub, [await accepted("a", "Lava.")]);
    const before = await stub.stats();
    await stub.destroy();
    // Back to 0, a later version would be the key of an answer cached from the deleted data.
    expect(await stub.stats()).toEqual({
      documents: 0,
      chunks: 0,
      bytes: 0,
      collections: 0,
      index_version: before.index_version + 1,
      cache_epoch: before.cache_epoch + 1,
      embedding_model: null,
    });
    expect((await search(stub, "lava")).hits).toEqual([]);
    expect(await stub.getDocument("a")).toBeNull();
  });
});
