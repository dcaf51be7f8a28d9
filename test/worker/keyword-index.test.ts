import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { dropKeywordIndexIfUnused, keywordIndexName } from "../../src/retrieval/keyword-index";
import { keywordSearch } from "../../src/retrieval/keyword-search";
import { call, createKey, uniqueTenant } from "./helpers";
import { chunkRows, ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

/** The tenant's keyword-index objects in the schema: its table, its two triggers, its row. */
async function indexObjects(tenant: string) {
  const name = await keywordIndexName(tenant);
  const { results } = await env.DB.prepare("SELECT type, name FROM sqlite_master WHERE name IN (?1, ?2, ?3) ORDER BY name")
    .bind(name, `${name}_ai`, `${name}_ad`)
    .all<{ type: string; name: string }>();
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM keyword_indexes WHERE tenant = ?1").bind(tenant).first<number>("n");
  return { schema: results.map((object) => `${object.type} ${object.name.replace(name, "kw")}`), row };
}

const BUILT = { schema: ["table kw", "trigger kw_ad", "trigger kw_ai"], row: 1 };
const GONE = { schema: [], row: 0 };

async function writer() {
  const tenant = uniqueTenant("kwdrop");
  return { tenant, key: (await createKey(tenant, ["writer"])).key };
}

const search = (tenant: string, text: string) =>
  keywordSearch(env.DB, { tenant, match: toFtsMatchExpression(text)!, plan: planFilters(undefined), limit: 10 });

describe("a tenant's keyword index after its documents are deleted", () => {
  it("is kept while a document remains and dropped with the last one (happy)", async () => {
    const { tenant, key } = await writer();
    const job = await ingest(key, {
      documents: [
        { id: "a", text: PARAGRAPHS.volcano },
        { id: "b", text: PARAGRAPHS.glaciers },
      ],
    });
    await waitForJob(key, job.job_id);
    expect(await indexObjects(tenant)).toEqual(BUILT);

    expect((await call("/v1/documents/a", { method: "DELETE", auth: key })).status).toBe(204);
    expect(await indexObjects(tenant)).toEqual(BUILT);
    const [stays] = await chunkRows(tenant, "b");
    expect(await search(tenant, "glaciers")).toContain(stays!.id);

    expect((await call("/v1/documents/b", { method: "DELETE", auth: key })).status).toBe(204);
    expect(await indexObjects(tenant)).toEqual(GONE);
    // Nothing to find, and the query does not fail on the missing table (it rebuilds it, empty).
    expect(await search(tenant, "glaciers")).toEqual([]);
  });

  it("is rebuilt for the tenant's next documents, which keyword search then finds (happy)", async () => {
    const { tenant, key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [{ id: "only", text: PARAGRAPHS.volcano }] })).job_id);
    expect((await call("/v1/documents/only", { method: "DELETE", auth: key })).status).toBe(204);
    expect(await indexObjects(tenant)).toEqual(GONE);

    await waitForJob(key, (await ingest(key, { documents: [{ id: "next", text: PARAGRAPHS.glaciers }] })).job_id);
    const chunks = await chunkRows(tenant, "next");
    expect(chunks.length).toBeGreaterThan(0);
    expect(await search(tenant, "glaciers")).toEqual(expect.arrayContaining([chunks[0]!.id]));
    expect(await indexObjects(tenant)).toEqual(BUILT);
    // The old document's text is not in the rebuilt index.
    expect(await search(tenant, "Vesuvius")).toEqual([]);
  });

  it("self-heals when chunks were committed while the index was dropped: the next query indexes them (error path)", async () => {
    const { tenant, key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [{ id: "doc", text: PARAGRAPHS.glaciers }] })).job_id);
    const chunks = await chunkRows(tenant, "doc");
    // As if a concurrent delete of another (last) document dropped the index right after this commit.
    const name = await keywordIndexName(tenant);
    await env.DB.batch([
      env.DB.prepare(`DROP TRIGGER ${name}_ai`),
      env.DB.prepare(`DROP TRIGGER ${name}_ad`),
      env.DB.prepare(`DROP TABLE ${name}`),
      env.DB.prepare("DELETE FROM keyword_indexes WHERE tenant = ?1").bind(tenant),
    ]);
    expect(await search(tenant, "glaciers")).toEqual(expect.arrayContaining([chunks[0]!.id]));
    expect(await indexObjects(tenant)).toEqual(BUILT);
  });

  it("drops nothing while the tenant has documents, nor another tenant's index (security)", async () => {
    const one = await writer();
    const two = await writer();
    await waitForJob(one.key, (await ingest(one.key, { documents: [{ id: "x", text: PARAGRAPHS.volcano }] })).job_id);
    await waitForJob(two.key, (await ingest(two.key, { documents: [{ id: "x", text: PARAGRAPHS.volcano }] })).job_id);
    expect(await dropKeywordIndexIfUnused(env.DB, one.tenant)).toBe(false);
    expect((await call("/v1/documents/x", { method: "DELETE", auth: one.key })).status).toBe(204);
    expect(await indexObjects(one.tenant)).toEqual(GONE);
    expect(await indexObjects(two.tenant)).toEqual(BUILT);
    const [chunk] = await chunkRows(two.tenant, "x");
    expect(await search(two.tenant, "Vesuvius")).toEqual([chunk!.id]);
  });
});
