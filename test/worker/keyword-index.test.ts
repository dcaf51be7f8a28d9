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

describe("a document's title in keyword ranking", () => {
  // Two documents of the same length; only the first has "basalt" in its title as well as its text.
  const TEXT = "Basalt columns form as thick lava cools and cracks into hexagonal prisms along the coast.";
  const titled = { id: "titled", text: TEXT, metadata: { title: "Basalt" } };
  const untitled = { id: "untitled", text: TEXT.replace("along", "near"), metadata: { title: 7 } };

  it("finds a chunk by its document's title alone, and ranks a title match above the same text without it (happy)", async () => {
    const { tenant, key } = await writer();
    await waitForJob(
      key,
      (await ingest(key, { documents: [titled, untitled, { id: "glaciers", text: PARAGRAPHS.glaciers, metadata: { title: "Ice" } }] }))
        .job_id,
    );
    const [titledChunk] = await chunkRows(tenant, "titled");
    const [untitledChunk] = await chunkRows(tenant, "untitled");
    const [glacierChunk] = await chunkRows(tenant, "glaciers");
    expect(await search(tenant, "basalt")).toEqual([titledChunk!.id, untitledChunk!.id]);
    // "ice" is in that document's title only (its text says "glaciers"); a non-string title is no title.
    expect(await search(tenant, "ice")).toEqual([glacierChunk!.id]);
    expect(await search(tenant, "7")).toEqual([]);
  });

  it("forgets the old title when a document is re-ingested with a new one (the index deletes what it indexed)", async () => {
    const { tenant, key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [titled] })).job_id);
    await waitForJob(key, (await ingest(key, { documents: [{ ...titled, metadata: { title: "Obsidian" } }] })).job_id);
    const [chunk] = await chunkRows(tenant, "titled");
    expect(await search(tenant, "obsidian")).toEqual([chunk!.id]);
    // "basalt" is still in the text, once: the old title's extra hit is gone from the statistics.
    const name = await keywordIndexName(tenant);
    const titleHits = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${name} WHERE ${name} MATCH 'title:basalt'`).first<number>("n");
    expect(titleHits).toBe(0);
    expect(await search(tenant, "basalt")).toEqual([chunk!.id]);
  });

  it("upgrades a tenant's index of before migration 0008 (text only) on its next query: chunks titled, index built with titles, the old one dropped (migration path)", async () => {
    const { tenant, key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [titled, untitled] })).job_id);
    const name = await keywordIndexName(tenant);
    const old = name.replace("kw2_", "kw_");
    // As a tenant indexed before migration 0008: a text-only table, its triggers, its row.
    await env.DB.batch([
      env.DB.prepare(`DROP TRIGGER ${name}_ai`),
      env.DB.prepare(`DROP TRIGGER ${name}_ad`),
      env.DB.prepare(`DROP TABLE ${name}`),
      env.DB.prepare(`CREATE VIRTUAL TABLE ${old} USING fts5 (text, content = '', tokenize = 'porter unicode61 remove_diacritics 2')`),
      env.DB.prepare(
        `CREATE TRIGGER ${old}_ai AFTER INSERT ON chunks WHEN new.tenant = '${tenant}' BEGIN INSERT INTO ${old} (rowid, text) VALUES (new.seq, new.text); END`,
      ),
      env.DB.prepare(`INSERT INTO ${old} (rowid, text) SELECT seq, text FROM chunks WHERE tenant = ?1`).bind(tenant),
      env.DB.prepare("UPDATE keyword_indexes SET name = ?2 WHERE tenant = ?1").bind(tenant, old),
      // Chunks written before migration 0008 have no title.
      env.DB.prepare("UPDATE chunks SET title = '' WHERE tenant = ?1").bind(tenant),
    ]);
    const [titledChunk] = await chunkRows(tenant, "titled");
    const [untitledChunk] = await chunkRows(tenant, "untitled");
    expect(await search(tenant, "basalt")).toEqual([titledChunk!.id, untitledChunk!.id]);
    expect(await indexObjects(tenant)).toEqual(BUILT);
    const leftovers = await env.DB.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN (?1, ?2, ?3)")
      .bind(old, `${old}_ai`, `${old}_ad`)
      .first<number>("n");
    expect(leftovers).toBe(0);
    expect(await env.DB.prepare("SELECT name FROM keyword_indexes WHERE tenant = ?1").bind(tenant).first<string>("name")).toBe(name);
    // The chunks have their document's title again (a string title only), so deleting them deletes what was indexed.
    const { results } = await env.DB.prepare("SELECT document_id, title FROM chunks WHERE tenant = ?1 ORDER BY document_id")
      .bind(tenant)
      .all();
    expect(results).toEqual([
      { document_id: "titled", title: "Basalt" },
      { document_id: "untitled", title: "" },
    ]);
    expect((await call("/v1/documents/titled", { method: "DELETE", auth: key })).status).toBe(204);
    expect(await search(tenant, "basalt")).toEqual([untitledChunk!.id]);
    const titleHits = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${name} WHERE ${name} MATCH 'title:basalt'`).first<number>("n");
    expect(titleHits).toBe(0);
  });
});
