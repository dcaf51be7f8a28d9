import { describe, expect, it } from "vitest";
import { planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { keywordSearch } from "../../src/retrieval/keyword-search";
import { call, createKey, tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { chunkRows, ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

/** The keyword (FTS5) index of a tenant's object, kept by triggers on its chunks (src/tenant/tenant-schema.ts). */

async function writer() {
  const tenant = uniqueTenant("kw");
  return { tenant, key: (await createKey(tenant, ["writer"])).key };
}

const search = async (tenant: string, text: string) =>
  (await keywordSearch(tenantObject(tenant), { match: toFtsMatchExpression(text)!, plan: planFilters(undefined), limit: 10 })).hits.map(
    (hit) => hit.id,
  );

/** Rows of the tenant's FTS index matching an FTS5 expression. */
const indexed = async (tenant: string, match: string) => (await tenantSql(tenant, "SELECT rowid FROM kw WHERE kw MATCH ?1", match)).length;

describe("a tenant's keyword index as its documents come and go", () => {
  it("forgets a deleted document's text and finds the tenant's next documents (happy)", async () => {
    const { tenant, key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [{ id: "only", text: PARAGRAPHS.volcano }] })).job_id);
    expect(await indexed(tenant, "vesuvius")).toBeGreaterThan(0);
    expect((await call("/v1/documents/only", { method: "DELETE", auth: key })).status).toBe(204);
    expect(await indexed(tenant, "vesuvius")).toBe(0);
    expect(await search(tenant, "Vesuvius")).toEqual([]);

    await waitForJob(key, (await ingest(key, { documents: [{ id: "next", text: PARAGRAPHS.glaciers }] })).job_id);
    const chunks = await chunkRows(tenant, "next");
    expect(chunks.length).toBeGreaterThan(0);
    expect(await search(tenant, "glaciers")).toEqual(expect.arrayContaining([chunks[0]!.id]));
    expect(await search(tenant, "Vesuvius")).toEqual([]);
  });

  it("never answers from another tenant's index, whatever that tenant deletes (security)", async () => {
    const one = await writer();
    const two = await writer();
    await waitForJob(one.key, (await ingest(one.key, { documents: [{ id: "x", text: PARAGRAPHS.volcano }] })).job_id);
    await waitForJob(two.key, (await ingest(two.key, { documents: [{ id: "x", text: PARAGRAPHS.volcano }] })).job_id);
    expect((await call("/v1/documents/x", { method: "DELETE", auth: one.key })).status).toBe(204);
    expect(await search(one.tenant, "Vesuvius")).toEqual([]);
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
    expect(await indexed(tenant, "title:basalt")).toBe(0);
    expect(await search(tenant, "basalt")).toEqual([chunk!.id]);
  });
});
