import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { contentHash } from "../../src/ingest/hashing";
import { planFilters } from "../../src/retrieval/filters";
import { toFtsMatchExpression } from "../../src/retrieval/fts-query";
import type { TenantData } from "../../src/tenant/tenant-data";
import {
  checkPlacement,
  objectForDocument,
  shardedKeywordSearch,
  shardObjectName,
  shardObjects,
  shardOf,
  type TenantPlacement,
} from "../../src/tenant/tenant-shards";
import { uniqueTenant } from "./helpers";

const QUOTA = { maxDocuments: 1_000, maxBytes: 10_000_000, maxChunks: 10_000 };

/** Stores and indexes one document (one chunk) in the object given. */
async function put(object: DurableObjectStub<TenantData>, id: string, text: string) {
  const hash = await contentHash("default", text, {});
  await object.accept({ documents: [{ id, collection: "default", text, metadata: {}, hash }], quota: QUOTA, now: 1 });
  const [loaded] = (await object.loadWork([{ documentId: id, contentHash: hash }])).work;
  const chunks = [{ id: `c_${id}`, index: 0, text, start: 0, end: text.length }];
  const ready = [{ id, contentHash: hash, revision: loaded!.revision, collection: "default", title: "", chunks }];
  await object.commit({ ready, failed: [], skipped: [], model: null, maxChunks: QUOTA.maxChunks, now: 2 });
}

describe("tenant shards: placement by a stable hash of the document id", () => {
  it("puts a document in the same shard every time, spreads ids evenly, and keeps shard 0 named by the tenant (happy)", () => {
    const ids = Array.from({ length: 4_000 }, (_, i) => `doc-${i}`);
    const counts = [0, 0, 0, 0];
    for (const id of ids) counts[shardOf(id, 4)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    expect(ids.map((id) => shardOf(id, 4))).toEqual(ids.map((id) => shardOf(id, 4)));
    expect(ids.every((id) => shardOf(id, 1) === 0)).toBe(true);
    expect(shardObjectName("acme", 0)).toBe("acme");
    expect(shardObjectName("acme", 2)).toBe("acme#2");
  });

  it("refuses a shard count or region it cannot place (error)", () => {
    expect(() => checkPlacement({ tenant: "t", shards: 0, region: null })).toThrow(RangeError);
    expect(() => checkPlacement({ tenant: "t", shards: 65, region: null })).toThrow(RangeError);
    expect(() => checkPlacement({ tenant: "t", shards: 2, region: "mars" })).toThrow(/region must be one of/);
    expect(() => checkPlacement({ tenant: "t", shards: 2, region: "weur" })).not.toThrow();
  });
});

describe("tenant shards: fan-out keyword search", () => {
  it("finds a tenant's documents in every shard, each stored in its own shard only, merged best first (happy)", async () => {
    const placement: TenantPlacement = { tenant: uniqueTenant("shards"), shards: 3, region: "weur" };
    const texts = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`doc-${i}`, `Glaciers carve valley number ${i}${" ice".repeat(i)}.`]),
    );
    for (const [id, text] of Object.entries(texts)) await put(objectForDocument(env.TENANT_DATA, placement, id), id, text);

    const objects = shardObjects(env.TENANT_DATA, placement);
    const held = await Promise.all(objects.map(async (object) => (await object.stats()).documents));
    expect(held.reduce((sum, n) => sum + n, 0)).toBe(12);
    expect(held.every((n) => n > 0)).toBe(true);
    for (const [id] of Object.entries(texts)) {
      const homes = await Promise.all(objects.map(async (object) => (await object.getDocument(id)) !== null));
      expect(homes.map((home, shard) => (home ? shard : -1)).filter((shard) => shard >= 0)).toEqual([shardOf(id, 3)]);
    }

    const request = { match: toFtsMatchExpression("glaciers valley")!, plan: planFilters(undefined), limit: 12, hydrate: true };
    const all = await shardedKeywordSearch(objects, request);
    expect(all.hits.map((hit) => hit.id).sort()).toEqual(
      Object.keys(texts)
        .map((id) => `c_${id}`)
        .sort(),
    );
    expect(all.hits.map((hit) => hit.bm25)).toEqual([...all.hits.map((hit) => hit.bm25)].sort((a, b) => b - a));
    expect(all.chunks.map((chunk) => chunk.id).sort()).toEqual(all.hits.map((hit) => hit.id).sort());
    const top = await shardedKeywordSearch(objects, { ...request, limit: 4 });
    expect(top.hits).toEqual(all.hits.slice(0, 4));
    expect(top.chunks).toHaveLength(4);
  });
});
