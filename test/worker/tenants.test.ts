import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Bindings } from "../../src/bindings";
import { localServices } from "../../src/local";
import { tenantsWithData } from "../../src/tenant/migrate-tenant-data";
import type { TenantData } from "../../src/tenant/tenant-data";
import { bindingsWith, call, callWithBindings, callWithEnv, createKey, json, tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { chunkRows, ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";
import { copyRowsToD1, d1WritingDuringCopy, writeD1Document } from "./legacy-d1";

/**
 * Whole tenants (issue 23): a deployment's rows in D1's shared tables adopted by each tenant's object
 * on its first start, and an operator's tenant deletion.
 */

describe("a deployment's rows in D1, adopted by each tenant's object on its first start (migration path)", () => {
  it("serves a tenant whose rows are only in D1 from its first request on: documents, jobs, stats, keyword search (happy)", async () => {
    const source = uniqueTenant("adopt-src");
    await localServices(env).ingest.indexNow(source, [
      { id: "lighthouse", text: PARAGRAPHS.lighthouse, metadata: { title: "Pharos" }, collection: "history" },
      { id: "glaciers", text: PARAGRAPHS.glaciers },
    ]);
    const tenant = uniqueTenant("adopt");
    await copyRowsToD1(source, tenant);
    const { key } = await createKey(tenant, ["admin"]);

    // The tenant's object has never run: its first call copies D1's rows in before answering.
    const document = await call("/v1/documents/lighthouse", { auth: key });
    expect(document.status).toBe(200);
    expect(await json(document)).toMatchObject({ id: "lighthouse", collection: "history", status: "indexed", text: PARAGRAPHS.lighthouse });
    const stats = await json(await call("/v1/stats", { auth: key }));
    expect(stats).toMatchObject({ documents: 2, collections: 2, index_version: (await tenantObject(source).stats()).index_version });
    expect(stats.chunks).toBe((await tenantObject(source).stats()).chunks);
    const search = await json(await call("/v1/search", { auth: key, body: { query: "lighthouse Alexandria harbour", mode: "keyword" } }));
    expect(search.results[0]).toMatchObject({ document_id: "lighthouse" });
    // The command reports the copy this start made (copied), then, checked against D1's checksum, nothing to do.
    expect((await localServices(env).tenantAdmin.migrate(tenant)).status).toBe("copied");
    expect((await localServices(env).tenantAdmin.migrate(tenant)).status).toBe("unchanged");
  });

  it("a copy that finds D1 written meanwhile resets the object: no call sees the unverified rows, and its next start copies again (error)", async () => {
    const source = uniqueTenant("adopt-src");
    await localServices(env).ingest.indexNow(source, [{ id: "glaciers", text: PARAGRAPHS.glaciers }]);
    const tenant = uniqueTenant("adopt-changed");
    await copyRowsToD1(source, tenant);
    expect((await localServices(env).tenantAdmin.migrate(tenant)).status).toBe("copied");
    // A worker from before the switch writes D1 twice: once before the rerun (so it copies again),
    // once during that copy (so the copy does not match D1 when read again).
    await writeD1Document(tenant, "late", "Written after the first copy.");
    const writing = d1WritingDuringCopy(env.DB, tenant, "meanwhile", 2);
    await runInDurableObject(tenantObject(tenant), (instance: TenantData) => {
      const live = instance as unknown as { env: Bindings };
      live.env = { ...live.env, DB: writing };
    });
    const rerun = await localServices(env).tenantAdmin.migrate(tenant);
    expect(writing.wrote()).toBe(true);
    expect(rerun.status).toBe("changed");
    // The object that copied without "meanwhile" is gone: the next start copies D1 again, and checks it.
    expect((await tenantObject(tenant).getDocument("meanwhile"))?.id).toBe("meanwhile");
    expect((await tenantObject(tenant).getDocument("late"))?.id).toBe("late");
    expect(await tenantObject(tenant).importMark()).toMatch(/^[0-9a-f]{16}$/);
    expect((await localServices(env).tenantAdmin.migrate(tenant)).status).toBe("copied");
    expect((await localServices(env).tenantAdmin.migrate(tenant)).status).toBe("unchanged");
  });

  it("never overwrites an object that holds data of its own: the copy reports it in use (error)", async () => {
    const tenant = uniqueTenant("adopt-busy");
    const { key } = await createKey(tenant, ["writer"]);
    await waitForJob(key, (await ingest(key, { documents: [{ id: "mine", text: PARAGRAPHS.volcano }] })).job_id);
    await writeD1Document(tenant, "old", "Old text in D1.");
    expect((await localServices(env).tenantAdmin.migrate(tenant)).status).toBe("in_use");
    expect((await call("/v1/documents/mine", { auth: key })).status).toBe(200);
  });
});

describe("DELETE /v1/tenants/{tenant} (operators)", () => {
  async function operator() {
    const operatorTenant = uniqueTenant("ops");
    const { key } = await createKey(operatorTenant, ["admin"]);
    return { bindings: bindingsWith({ OPERATOR_TENANT: operatorTenant }), key };
  }

  it("deletes the tenant's credentials, documents, index and vectors; its queries find nothing after (happy)", async () => {
    const tenant = uniqueTenant("doomed");
    const { key } = await createKey(tenant, ["writer"]);
    await waitForJob(
      key,
      (
        await ingest(key, {
          documents: [
            { id: "a", text: PARAGRAPHS.volcano },
            { id: "b", text: PARAGRAPHS.glaciers },
          ],
        })
      ).job_id,
    );
    const chunks = [...(await chunkRows(tenant, "a")), ...(await chunkRows(tenant, "b"))];
    const vectors = localServices(env).vectors;
    expect(await vectors.getByIds(chunks.map((chunk) => chunk.id))).toHaveLength(chunks.length);

    const ops = await operator();
    const response = await callWithBindings(ops.bindings, `/v1/tenants/${tenant}`, { method: "DELETE", auth: ops.key });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ tenant, api_keys: 1, users: 0, documents: 2, vectors: chunks.length, files: 0 });

    expect(await vectors.getByIds(chunks.map((chunk) => chunk.id))).toEqual([]);
    expect(await tenantObject(tenant).stats()).toMatchObject({ documents: 0, chunks: 0, bytes: 0 });
    expect(
      await tenantSql(tenant, "SELECT id FROM documents UNION ALL SELECT id FROM jobs UNION ALL SELECT id FROM vector_deletions"),
    ).toEqual([]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant = ?1").bind(tenant).first<number>("n")).toBe(0);
    // Its key is gone (this isolate's key cache is not the one the call used: a fresh read refuses it).
    const { key: again } = await createKey(tenant, ["reader"]);
    const search = await json(await call("/v1/search", { auth: again, body: { query: "volcano", mode: "keyword" } }));
    expect(search.results).toEqual([]);
    // Idempotent: a second deletion finds nothing left.
    const rerun = await callWithBindings(ops.bindings, `/v1/tenants/${tenant}`, { method: "DELETE", auth: ops.key });
    expect(await json(rerun)).toMatchObject({ documents: 0, vectors: 0 });
  });

  it("deletes the rows a deployment from before issue 23 left in D1: the command finds nothing to copy back (happy)", async () => {
    const source = uniqueTenant("legacy-src");
    await localServices(env).ingest.indexNow(source, [{ id: "old", text: PARAGRAPHS.printing }]);
    const tenant = uniqueTenant("legacy-doomed");
    await copyRowsToD1(source, tenant);
    await createKey(tenant, ["writer"]);
    expect(await tenantsWithData(env.DB, tenant.slice(0, -1))).toContain(tenant);

    const ops = await operator();
    const response = await callWithBindings(ops.bindings, `/v1/tenants/${tenant}`, { method: "DELETE", auth: ops.key });
    expect(await json(response)).toMatchObject({ tenant, documents: 1 });
    expect(await tenantsWithData(env.DB, tenant.slice(0, -1))).not.toContain(tenant);
    for (const table of ["documents", "chunks", "jobs", "job_documents", "vector_deletions"])
      expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant = ?1`).bind(tenant).first<number>("n"), table).toBe(0);
    // The command's copy finds no row of it in D1: the deleted tenant stays empty.
    await localServices(env).tenantAdmin.migrate(tenant);
    expect(await tenantObject(tenant).stats()).toMatchObject({ documents: 0, chunks: 0 });
  });

  it("is for operators only: a tenant's own admin, or anyone when no operator tenant is set, is refused (security)", async () => {
    const tenant = uniqueTenant("kept");
    const { key: admin } = await createKey(tenant, ["admin"]);
    const ops = await operator();
    expect((await callWithBindings(ops.bindings, `/v1/tenants/${tenant}`, { method: "DELETE", auth: admin })).status).toBe(403);
    expect((await call(`/v1/tenants/${tenant}`, { method: "DELETE", auth: ops.key })).status).toBe(403);
    expect((await callWithBindings(ops.bindings, "/v1/tenants/not%20a%20tenant", { method: "DELETE", auth: ops.key })).status).toBe(400);
    expect((await call("/v1/me", { auth: admin })).status).toBe(200);
  });
});

describe("placement: a tenant's object where its tenants.region says", () => {
  it("creates the object with the region as its location hint; D1 holds regions to Cloudflare's hints (happy, error)", async () => {
    const tenant = uniqueTenant("placed");
    await env.DB.prepare("INSERT INTO tenants (tenant, updated_at, region) VALUES (?1, 0, 'weur')").bind(tenant).run();
    const hints: unknown[] = [];
    const watched = new Proxy(env.TENANT_DATA, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property === "get")
          return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => {
            hints.push(options);
            return target.get(id, options);
          };
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const { key } = await createKey(tenant, ["reader"]);
    expect((await callWithEnv({ TENANT_DATA: watched }, "/v1/stats", { auth: key })).status).toBe(200);
    expect(hints).toContainEqual({ locationHint: "weur" });
    // Without a region the object is placed by its first request: no hint.
    const { key: other } = await createKey(uniqueTenant("unplaced"), ["reader"]);
    hints.length = 0;
    expect((await callWithEnv({ TENANT_DATA: watched }, "/v1/stats", { auth: other })).status).toBe(200);
    expect(hints.every((hint) => hint === undefined)).toBe(true);
    await expect(env.DB.prepare("UPDATE tenants SET region = 'mars' WHERE tenant = ?1").bind(tenant).run()).rejects.toThrow(/CHECK/);
  });
});
