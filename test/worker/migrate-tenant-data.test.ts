import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { deleteDocument, getDocument } from "../../src/ingest/document-store";
import { getJob } from "../../src/ingest/job-store";
import { localServices } from "../../src/local";
import { planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { hydrateChunks } from "../../src/retrieval/hydrate";
import { keywordSearchScored } from "../../src/retrieval/keyword-search";
import { getTenantUsage } from "../../src/store/tenant-limits";
import { createTenantStore, getTenantStats } from "../../src/store/tenant-store";
import { migrateTenantData, tenantsWithData } from "../../src/tenant/migrate-tenant-data";
import { createKey, uniqueTenant } from "./helpers";
import { ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

const objectOf = (tenant: string) => env.TENANT_DATA.get(env.TENANT_DATA.idFromName(tenant));

/** A tenant written by today's schema (D1): indexed documents, a finished job, a pending vector deletion, a cache epoch. */
async function tenantInD1() {
  const tenant = uniqueTenant("migrate");
  await localServices(env).ingest.indexNow(tenant, [
    { id: "lighthouse", text: PARAGRAPHS.lighthouse, metadata: { title: "Pharos", year: 280 }, collection: "history" },
    { id: "glaciers", text: PARAGRAPHS.glaciers, metadata: { title: "Glaciers" }, collection: "geo" },
    { id: "gone", text: PARAGRAPHS.printing },
  ]);
  const { key } = await createKey(tenant, ["writer"]);
  const job = await ingest(key, { documents: [{ id: "volcano", text: PARAGRAPHS.volcano, metadata: { lang: "en" } }] });
  await waitForJob(key, job.job_id);
  // Deleted without its vector purge: its vector ids stay recorded for deletion.
  expect(await deleteDocument(env.DB, tenant, "gone", Date.now())).toBe(true);
  await createTenantStore(env.DB).bumpCacheEpoch(tenant);
  return { tenant, jobId: job.job_id };
}

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
    const { tenant, jobId } = await tenantInD1();
    const result = await migrateTenantData(env.DB, env.TENANT_DATA, tenant);
    expect(result.status).toBe("copied");
    expect(result.target).toEqual(result.source);
    expect(result.source.counts).toMatchObject({ documents: 3, jobs: 1, job_documents: 1 });
    expect(result.source.counts.vector_deletions).toBeGreaterThan(0);

    const stub = objectOf(tenant);
    const [d1Stats, usage] = await Promise.all([getTenantStats(env.DB, tenant), getTenantUsage(env.DB, tenant)]);
    expect(await stub.stats()).toEqual({ ...d1Stats, bytes: usage.bytes, cache_epoch: 1 });
    expect(await stub.job(jobId)).toEqual(await getJob(env.DB, tenant, jobId));
    expect(await stub.getDocument("lighthouse")).toEqual(await getDocument(env.DB, tenant, "lighthouse"));

    for (const query of QUERIES) {
      const plan = planFilters(query.filters);
      const request = { match: toFtsMatchExpression(query.text)!, plan, limit: 10 };
      const before = await keywordSearchScored(env.DB, { tenant, ...request });
      expect(before.length > 0, query.text).toBe(!query.deleted);
      const after = await stub.keywordSearch({ ...request, hydrate: true });
      expect(
        after.hits.map((hit) => hit.id),
        query.text,
      ).toEqual(before.map((hit) => hit.id));
      for (const [i, hit] of after.hits.entries()) expect(hit.bm25, query.text).toBeCloseTo(before[i]!.bm25, 9);
      const hydrated = await hydrateChunks(env.DB, { tenant, ids: before.map((hit) => hit.id), plan });
      expect(new Map(after.chunks.map((chunk) => [chunk.id, chunk])), query.text).toEqual(hydrated);
    }
  });

  it("is idempotent and resumable: a rerun skips a tenant already copied, and copies again one that changed since (happy)", async () => {
    const { tenant } = await tenantInD1();
    const first = await migrateTenantData(env.DB, env.TENANT_DATA, tenant);
    expect(first.status).toBe("copied");
    const again = await migrateTenantData(env.DB, env.TENANT_DATA, tenant);
    expect(again).toMatchObject({ status: "unchanged", source: first.source, target: null });

    await localServices(env).ingest.indexNow(tenant, [{ id: "late", text: "A document written after the first copy." }]);
    const third = await migrateTenantData(env.DB, env.TENANT_DATA, tenant);
    expect(third.status).toBe("copied");
    expect(third.source.digest).not.toBe(first.source.digest);
    expect(third.target?.counts.documents).toBe(first.source.counts.documents + 1);
    expect((await objectOf(tenant).stats()).documents).toBe(first.source.counts.documents + 1);
  });

  it("reports a tenant that wrote during the copy as changed and records no copy, so a rerun copies it again (error)", async () => {
    const { tenant } = await tenantInD1();
    // D1 as the migration sees it, with the tenant writing a document while its chunks are copied.
    let wrote = false;
    const writing = new Proxy(env.DB, {
      get(target, property) {
        if (property !== "prepare") return Reflect.get(target, property, target);
        return (sql: string) => {
          if (!wrote && sql.includes("FROM chunks") && !sql.includes("keyword")) {
            wrote = true;
            return {
              bind: (...values: unknown[]) => ({
                raw: async () => {
                  await localServices(env).ingest.indexNow(tenant, [{ id: "meanwhile", text: "Written during the copy." }]);
                  return target
                    .prepare(sql)
                    .bind(...values)
                    .raw();
                },
              }),
            } as unknown as D1PreparedStatement;
          }
          return target.prepare(sql);
        };
      },
    });
    const result = await migrateTenantData(writing, env.TENANT_DATA, tenant);
    expect(wrote).toBe(true);
    expect(result.status).toBe("changed");
    expect(await objectOf(tenant).importedDigest()).toBeNull();
    const rerun = await migrateTenantData(env.DB, env.TENANT_DATA, tenant);
    expect(rerun.status).toBe("copied");
    expect((await objectOf(tenant).getDocument("meanwhile"))?.id).toBe("meanwhile");
  });

  it("copies one tenant's rows only: another tenant's stay out of its object (security)", async () => {
    const mine = await tenantInD1();
    const theirs = uniqueTenant("migrate-other");
    await localServices(env).ingest.indexNow(theirs, [{ id: "secret", text: "Glaciers of another tenant, never to be found here." }]);
    await migrateTenantData(env.DB, env.TENANT_DATA, mine.tenant);
    expect(await objectOf(mine.tenant).getDocument("secret")).toBeNull();
    expect(await tenantsWithData(env.DB)).toEqual(expect.arrayContaining([mine.tenant, theirs]));
  });
});
