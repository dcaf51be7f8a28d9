import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { localServices } from "../../src/local";
import { planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { COPYING, migrateTenantData, tenantsWithData } from "../../src/tenant/migrate-tenant-data";
import { createKey, tenantObject, uniqueTenant } from "./helpers";
import { ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";
import { copyRowsToD1, d1WritingDuringCopy, writeD1Document } from "./legacy-d1";

/**
 * Today's deployments hold every tenant's rows in D1's shared tables (migrations 0001–0009). The
 * worker no longer writes them, so a tenant "written by today's schema" is made here the way the
 * rows came to be: written by the ingest path (now into the tenant's object), then moved, row by row
 * and column by column, into D1's tables under the tenant's name, and the object emptied.
 */
async function tenantInD1() {
  const tenant = uniqueTenant("migrate");
  const services = localServices(env);
  await services.ingest.indexNow(tenant, [
    { id: "lighthouse", text: PARAGRAPHS.lighthouse, metadata: { title: "Pharos", year: 280 }, collection: "history" },
    { id: "glaciers", text: PARAGRAPHS.glaciers, metadata: { title: "Glaciers" }, collection: "geo" },
    { id: "gone", text: PARAGRAPHS.printing },
  ]);
  const { key } = await createKey(tenant, ["writer"]);
  const job = await ingest(key, { documents: [{ id: "volcano", text: PARAGRAPHS.volcano, metadata: { lang: "en" } }] });
  await waitForJob(key, job.job_id);
  // Deleted without its vector purge: its vector ids stay recorded for deletion.
  const stub = tenantObject(tenant);
  expect(await stub.remove("gone", Date.now())).toBe(true);
  await stub.bumpCacheEpoch();
  const answers = await Promise.all(QUERIES.map((query) => stub.keywordSearch(requestOf(query))));
  const views = { stats: await stub.stats(), job: await stub.job(job.job_id), lighthouse: await stub.getDocument("lighthouse") };
  await moveToD1(tenant);
  return { tenant, jobId: job.job_id, answers, views };
}

/** The object's rows into D1's shared tables under the tenant's own name, then the object emptied, as a deployment finds it before the copy. */
async function moveToD1(tenant: string) {
  await copyRowsToD1(tenant, tenant);
  await tenantObject(tenant).destroy();
}

const requestOf = (query: (typeof QUERIES)[number]) => ({
  match: toFtsMatchExpression(query.text)!,
  plan: planFilters(query.filters),
  limit: 10,
  hydrate: true,
});

/** `deleted`: only the deleted document matched; it is found by neither. */
const QUERIES: Array<{ text: string; filters?: Parameters<typeof planFilters>[0]; deleted?: true }> = [
  { text: "glacier ice valleys" },
  { text: "eruption ash Pompeii volcano" },
  { text: "lighthouse harbour Alexandria", filters: { collection: "history" } },
  { text: "centuries", filters: { year: { $gte: 100 } } },
  { text: "printing press Gutenberg", deleted: true },
];

describe("edge-rag migrate tenant-data: one tenant from D1 into its Durable Object", () => {
  it("copies every row, with counts and checksum checked, and the same queries give the same answers (happy)", async () => {
    const { tenant, jobId, answers, views } = await tenantInD1();
    const result = await migrateTenantData(env.DB, tenantObject(tenant), tenant);
    expect(result.status).toBe("copied");
    expect(result.target).toEqual(result.source);
    expect(result.source.counts).toMatchObject({ documents: 3, jobs: 1, job_documents: 1 });
    expect(result.source.counts.vector_deletions).toBeGreaterThan(0);

    const stub = tenantObject(tenant);
    expect(await stub.stats()).toEqual(views.stats);
    expect(await stub.job(jobId)).toEqual(views.job);
    expect(await stub.getDocument("lighthouse")).toEqual(views.lighthouse);
    for (const [i, query] of QUERIES.entries()) {
      const before = answers[i]!;
      expect(before.hits.length > 0, query.text).toBe(!query.deleted);
      const after = await stub.keywordSearch(requestOf(query));
      expect(
        after.hits.map((hit) => hit.id),
        query.text,
      ).toEqual(before.hits.map((hit) => hit.id));
      for (const [j, hit] of after.hits.entries()) expect(hit.bm25, query.text).toBeCloseTo(before.hits[j]!.bm25, 9);
      expect(after.chunks, query.text).toEqual(before.chunks);
    }
  });

  it("copies a large tenant a slice at a time: each call goes on where the last stopped, to the same rows and answers (happy)", async () => {
    const { tenant, answers, views } = await tenantInD1();
    // More documents than a page holds (10), so the copy and its check each take several pages.
    for (let i = 0; i < 25; i++)
      await writeD1Document(tenant, `extra-${String(i).padStart(2, "0")}`, `Extra document number ${i} about harbours.`);
    const stub = tenantObject(tenant);
    const slices: string[] = [];
    let result = await migrateTenantData(env.DB, stub, tenant, 0);
    while (result.status === "copying") {
      slices.push(`${result.source.counts.documents}`);
      expect(await stub.importMark()).toBe(COPYING);
      result = await migrateTenantData(env.DB, stub, tenant, 0);
    }
    // One page per call: documents (3 pages), chunks, jobs, job documents, vector deletions, copied and then read again.
    expect(slices.length).toBeGreaterThanOrEqual(10);
    expect(result.status).toBe("copied");
    expect(result.target).toEqual(result.source);
    expect(result.source.counts.documents).toBe(3 + 25);
    expect((await stub.stats()).documents).toBe(3 + 25);
    expect(await stub.getDocument("lighthouse")).toEqual(views.lighthouse);
    // The extra documents match none of the queries (the harbour one is filtered to another collection).
    for (const [i, query] of QUERIES.entries())
      expect(
        (await stub.keywordSearch(requestOf(query))).hits.map((hit) => hit.id),
        query.text,
      ).toEqual(answers[i]!.hits.map((hit) => hit.id));
    expect(await migrateTenantData(env.DB, stub, tenant, 0)).toMatchObject({ status: "copying" }); // a rerun reads D1 again, a slice at a time…
    let rerun = await migrateTenantData(env.DB, stub, tenant, 0);
    while (rerun.status === "copying") rerun = await migrateTenantData(env.DB, stub, tenant, 0);
    expect(rerun.status).toBe("unchanged"); // …and finds what it copied
  });

  it("is idempotent and resumable: a rerun skips a tenant already copied, and copies again one that changed since (happy)", async () => {
    const { tenant } = await tenantInD1();
    const first = await migrateTenantData(env.DB, tenantObject(tenant), tenant);
    expect(first.status).toBe("copied");
    const again = await migrateTenantData(env.DB, tenantObject(tenant), tenant);
    expect(again).toMatchObject({ status: "unchanged", source: first.source, target: null });

    await writeD1Document(tenant, "late", "A document written after the first copy.");
    const third = await migrateTenantData(env.DB, tenantObject(tenant), tenant);
    expect(third.status).toBe("copied");
    expect(third.source.digest).not.toBe(first.source.digest);
    expect(third.target?.counts.documents).toBe(first.source.counts.documents + 1);
    expect((await tenantObject(tenant).stats()).documents).toBe(first.source.counts.documents + 1);
  });

  it("never copies again over an object written since its copy, even when every copied table's count is where the copy left it (error)", async () => {
    const { tenant } = await tenantInD1();
    expect((await migrateTenantData(env.DB, tenantObject(tenant), tenant)).status).toBe("copied");
    // The tenant's own write since the copy: a webhook, in no table the copy fills.
    const webhook = { id: "wh_since", url: "https://hooks.example.com/edge-rag", secret: "s".repeat(32), max: 10, now: Date.now() };
    expect((await tenantObject(tenant).createWebhook({ ...webhook, events: ["job.completed"] })).ok).toBe(true);
    await writeD1Document(tenant, "late", "A document written after the first copy.");
    const rerun = await migrateTenantData(env.DB, tenantObject(tenant), tenant);
    expect(rerun.status).toBe("in_use");
    expect((await tenantObject(tenant).listWebhooks()).map((hook) => hook.id)).toEqual(["wh_since"]);
    expect(await tenantObject(tenant).getDocument("late")).toBeNull();
  });

  it("reports a tenant that wrote during the copy as changed and records no copy, so a rerun copies it again (error)", async () => {
    const { tenant } = await tenantInD1();
    // D1 as the migration sees it, with the tenant writing a document while its chunks are copied.
    const writing = d1WritingDuringCopy(env.DB, tenant, "meanwhile");
    const result = await migrateTenantData(writing, tenantObject(tenant), tenant);
    expect(writing.wrote()).toBe(true);
    expect(result.status).toBe("changed");
    // Marked as a copy under way, not as copied: the rerun copies again instead of taking the rows for the tenant's own.
    expect(await tenantObject(tenant).importMark()).toBe(COPYING);
    const rerun = await migrateTenantData(env.DB, tenantObject(tenant), tenant);
    expect(rerun.status).toBe("copied");
    expect((await tenantObject(tenant).getDocument("meanwhile"))?.id).toBe("meanwhile");
  });

  it("copies one tenant's rows only: another tenant's stay out of its object (security)", async () => {
    const mine = await tenantInD1();
    const theirs = uniqueTenant("migrate-other");
    await writeD1Document(theirs, "secret", "Glaciers of another tenant, never to be found here.");
    await migrateTenantData(env.DB, tenantObject(mine.tenant), mine.tenant);
    expect(await tenantObject(mine.tenant).getDocument("secret")).toBeNull();
    expect(await tenantsWithData(env.DB)).toEqual(expect.arrayContaining([mine.tenant, theirs]));
  });
});
