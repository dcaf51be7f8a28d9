import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { acceptDocuments } from "../../src/ingest/document-store";
import { localServices } from "../../src/local";
import { MAX_SHARDS, parseShardObjectName, shardObjectName, shardOf, shardShare } from "../../src/tenant/tenant-shards";
import { bindingsWith, call, callWithBindings, createKey, json, tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { ingest, waitForJob } from "./ingest-fixtures";

/**
 * A tenant's data split over N objects (issue 23, `tenants.shards`): documents placed by a hash of
 * their id, every read of the tenant merged from all its shards through the public API, an accept
 * across shards all or nothing, the sweep per shard, deletion of every shard.
 */

/** A tenant of `shards` shards, as an operator sets it before its first document (migration 0012). */
async function shardedTenant(label: string, shards: number, limits?: object) {
  const tenant = uniqueTenant(label);
  await env.DB.prepare("INSERT INTO tenants (tenant, updated_at, shards, limits) VALUES (?1, 0, ?2, ?3)")
    .bind(tenant, shards, limits ? JSON.stringify(limits) : null)
    .run();
  return tenant;
}

/** `count` ids that hash to `shard` of `shards`. */
function idsOnShard(shard: number, shards: number, count: number, prefix = "doc"): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (shardOf(`${prefix}-${i}`, shards) === shard) ids.push(`${prefix}-${i}`);
  return ids;
}

const documentsOf = async (tenant: string, shard: number) =>
  (await tenantSql<{ id: string }>(shardObjectName(tenant, shard), "SELECT id FROM documents ORDER BY id")).map((row) => row.id);

describe("tenant shards: placement", () => {
  it("puts a document in the same shard every time, spreads ids evenly, and names shard 0 by the tenant (happy)", () => {
    const ids = Array.from({ length: 4_000 }, (_, i) => `doc-${i}`);
    const counts = [0, 0, 0, 0];
    for (const id of ids) counts[shardOf(id, 4)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    expect(ids.map((id) => shardOf(id, 4))).toEqual(ids.map((id) => shardOf(id, 4)));
    expect(ids.every((id) => shardOf(id, 1) === 0)).toBe(true);
    expect(shardObjectName("acme", 0)).toBe("acme");
    expect(parseShardObjectName(shardObjectName("acme", 2))).toEqual({ tenant: "acme", shard: 2 });
    expect(parseShardObjectName("acme")).toEqual({ tenant: "acme", shard: 0 });
    expect([shardShare(10, 1), shardShare(10, 4), shardShare(1, 4)]).toEqual([10, 3, 1]);
  });

  it("holds tenants.shards to 1 … MAX_SHARDS in D1 (error)", async () => {
    const tenant = uniqueTenant("bad-shards");
    for (const shards of [0, MAX_SHARDS + 1])
      await expect(
        env.DB.prepare("INSERT INTO tenants (tenant, updated_at, shards) VALUES (?1, 0, ?2)").bind(tenant, shards).run(),
      ).rejects.toThrow(/CHECK/);
  });
});

describe("tenant shards: the API over a sharded tenant", () => {
  it("ingests one request across shards, then lists, counts, finds, reads and deletes across them (happy)", async () => {
    const tenant = await shardedTenant("sharded", 4);
    const { key } = await createKey(tenant, ["admin"]);
    const ids = Array.from({ length: 12 }, (_, i) => `doc-${String(i).padStart(2, "0")}`);
    const documents = ids.map((id, i) => ({
      id,
      text: `Glacier survey ${id} records ${["moraine", "crevasse", "serac", "firn"][i % 4]} ${id.replace("-", "")}.`,
    }));
    const accepted = await ingest(key, { documents, collection: "survey" });
    expect(await waitForJob(key, accepted.job_id)).toMatchObject({ status: "done", documents: 12, processed: 12, failed: 0 });

    // Each document in the shard its id hashes to, and only there; more than one shard in use.
    const held = await Promise.all([0, 1, 2, 3].map((shard) => documentsOf(tenant, shard)));
    expect(held.flat().sort()).toEqual(ids);
    held.forEach((shardIds, shard) => {
      for (const id of shardIds) expect(shardOf(id, 4)).toBe(shard);
    });
    expect(held.filter((shardIds) => shardIds.length > 0).length).toBeGreaterThan(1);

    // Pages in id order, merged from every shard, with no document twice or missing.
    const listed: string[] = [];
    for (let cursor: string | null = null; ; ) {
      const page: { documents: Array<{ id: string }>; next_cursor: string | null } = await json(
        await call(`/v1/documents?limit=5${cursor ? `&cursor=${cursor}` : ""}`, { auth: key }),
      );
      listed.push(...page.documents.map((document: { id: string }) => document.id));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    expect(listed).toEqual(ids);

    const stats = await json(await call("/v1/stats", { auth: key }));
    // One collection on every shard counts once.
    expect(stats).toMatchObject({ documents: 12, collections: 1 });

    // A document on a shard other than 0: found by keyword and hybrid search, read by id, deleted.
    const far = ids.find((id) => shardOf(id, 4) !== 0)!;
    const term = far.replace("-", "");
    for (const mode of ["keyword", "hybrid"]) {
      const search = await json(await call("/v1/search", { auth: key, body: { query: `glacier ${term}`, mode } }));
      expect(search.results[0], mode).toMatchObject({ document_id: far });
    }
    expect(await json(await call(`/v1/documents/${far}`, { auth: key }))).toMatchObject({ id: far, status: "indexed" });
    expect((await call(`/v1/documents/${far}`, { method: "DELETE", auth: key })).status).toBe(204);
    expect((await call(`/v1/documents/${far}`, { auth: key })).status).toBe(404);
    const after = await json(await call("/v1/stats", { auth: key }));
    expect(after.documents).toBe(11);
    expect(after.index_version).toBeGreaterThan(stats.index_version);
    const search = await json(await call("/v1/search", { auth: key, body: { query: `glacier ${term}`, mode: "keyword" } }));
    expect(search.results.map((result: { document_id: string }) => result.document_id)).not.toContain(far);
  });

  it("refuses an ingest when one shard's share of a quota is full, and stores nothing on any shard (error)", async () => {
    // Two shards, a quota of 4 documents: each shard holds at most 2.
    const tenant = await shardedTenant("sharded-quota", 2, { max_documents: 4 });
    const { key } = await createKey(tenant, ["admin"]);
    const [first, extra] = [idsOnShard(0, 2, 2), idsOnShard(1, 2, 3)];
    const kept = { id: first[0]!, text: "Serac falls are hard to predict." };
    const accepted = await ingest(key, { documents: [kept, { id: extra[0]!, text: "Firn turns into glacier ice." }] });
    await waitForJob(key, accepted.job_id);

    // Shard 0's part fits (a replacement and one new document), shard 1's does not (three documents).
    const refused = await call("/v1/documents", {
      auth: key,
      body: {
        documents: [
          { id: kept.id, text: "A replacement that must not land." },
          { id: first[1]!, text: "A new document that must not land." },
          ...extra.slice(1).map((id) => ({ id, text: `Crevasse ${id}.` })),
        ],
      },
    });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toMatchObject({ code: "QUOTA_EXCEEDED" });
    expect(await documentsOf(tenant, 0)).toEqual([kept.id]);
    expect(await documentsOf(tenant, 1)).toEqual([extra[0]]);
    expect(await json(await call(`/v1/documents/${kept.id}`, { auth: key }))).toMatchObject({ text: kept.text, status: "indexed" });
    for (const shard of [0, 1]) {
      const name = shardObjectName(tenant, shard);
      expect(await tenantSql(name, "SELECT hold_id FROM holds")).toEqual([]);
      expect(await tenantSql(name, "SELECT id FROM jobs WHERE id <> ?1", accepted.job_id)).toEqual([]);
    }
    expect((await json(await call("/v1/stats", { auth: key }))).documents).toBe(2);
  });

  it("deletes every shard of a tenant (operators)", async () => {
    const tenant = await shardedTenant("sharded-doomed", 3);
    const { key } = await createKey(tenant, ["writer"]);
    const documents = Array.from({ length: 9 }, (_, i) => ({ id: `d${i}`, text: `Moraine ridge number ${i}.` }));
    await waitForJob(key, (await ingest(key, { documents })).job_id);
    const operatorTenant = uniqueTenant("ops");
    const { key: ops } = await createKey(operatorTenant, ["admin"]);
    const deleted = await callWithBindings(bindingsWith({ OPERATOR_TENANT: operatorTenant }), `/v1/tenants/${tenant}`, {
      method: "DELETE",
      auth: ops,
    });
    expect(await json(deleted)).toMatchObject({ documents: 9 });
    for (const shard of [0, 1, 2]) expect(await documentsOf(tenant, shard)).toEqual([]);
  });
});

describe("tenant shards: an object's own guards", () => {
  const quota = { maxDocuments: 100, maxBytes: 1_000_000, maxChunks: 1_000 };

  it("refuses a write under another shard count once it holds documents (error)", async () => {
    const tenant = uniqueTenant("reshard");
    const object = tenantObject(tenant);
    const documents = await acceptDocuments([{ id: "a", text: "Ice." }], "default");
    expect((await object.accept({ documents, quota, now: 1, shards: 1 })).ok).toBe(true);
    expect(await object.accept({ documents, quota, now: 2, shards: 2 })).toMatchObject({
      ok: false,
      misplaced: /resharding does not exist yet/,
    });
    // An empty object takes whatever count it is first written under.
    const empty = tenantObject(uniqueTenant("reshard-empty"));
    expect((await empty.accept({ documents, quota, now: 1, shards: 4 })).ok).toBe(true);
  });

  it("has the sweep undo a hold its worker never confirmed, restoring the row it replaced (error)", async () => {
    const tenant = uniqueTenant("stale-hold");
    const object = tenantObject(tenant);
    const [original] = await acceptDocuments([{ id: "kept", text: "The original text." }], "default");
    await localServices(env).ingest.indexNow(tenant, [{ id: "kept", text: "The original text." }]);
    const held = await acceptDocuments(
      [
        { id: "kept", text: "Held text." },
        { id: "fresh", text: "A held new document." },
      ],
      "default",
    );
    const longAgo = Date.now() - 10 * 60_000;
    expect((await object.accept({ documents: held, job: { id: "job_held" }, quota, now: longAgo, hold: "job_held" })).ok).toBe(true);
    // Held: neither sent by the sweep nor visible as a job.
    expect(await object.job("job_held")).toBeNull();
    await localServices(env).ingest.sweep(tenant, Date.now(), 0);
    expect(await object.getDocument("fresh")).toBeNull();
    expect(await object.getDocument("kept")).toMatchObject({ text: "The original text.", content_hash: original!.hash, status: "indexed" });
    expect(await tenantSql(tenant, "SELECT id FROM jobs WHERE id = 'job_held' UNION ALL SELECT hold_id FROM holds")).toEqual([]);
    expect((await object.stats()).documents).toBe(1);
  });
});
