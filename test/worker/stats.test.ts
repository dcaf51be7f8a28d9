import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { call, createKey, json, tenantFirst, uniqueTenant } from "./helpers";
import { indexVersion, ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

/** GET /v1/stats: the caller's tenant's counts and index facts. */

describe("GET /v1/stats (happy)", () => {
  it("is all zeros for a tenant with nothing indexed, with the index's dimensions and no model yet", async () => {
    const tenant = uniqueTenant("stats-empty");
    const { key } = await createKey(tenant, ["reader"]);
    const response = await call("/v1/stats", { auth: key });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({
      documents: 0,
      chunks: 0,
      collections: 0,
      index_version: 0,
      vector_dimensions: loadConfig(env).EMBEDDING_DIMENSIONS,
      embedding_model: null,
      cache: { hits: 0, misses: 0, stale: 0, hit_ratio: null, scope: "global" },
      usage: { documents: 0, chunks: 0, bytes: 0, api_keys: 1 },
      quota: {
        plan: null,
        documents: loadConfig(env).TENANT_MAX_DOCUMENTS,
        chunks: loadConfig(env).TENANT_MAX_CHUNKS,
        bytes: loadConfig(env).TENANT_MAX_BYTES,
        api_keys: loadConfig(env).TENANT_MAX_API_KEYS,
        rate_limits: { query: "5000/60s", ingest: "5000/60s", auth: "60/60s" },
      },
    });
  });

  it("counts documents, chunks and collections after ingestion, and after a delete", async () => {
    const tenant = uniqueTenant("stats");
    const { key } = await createKey(tenant, ["writer"]);
    await waitForJob(
      key,
      (
        await ingest(key, {
          collection: "geo",
          documents: [
            { id: "g", text: PARAGRAPHS.glaciers },
            { id: "v", text: PARAGRAPHS.volcano },
          ],
        })
      ).job_id,
    );
    await waitForJob(key, (await ingest(key, { collection: "history", documents: [{ id: "p", text: PARAGRAPHS.printing }] })).job_id);
    const chunks = async () => (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM chunks"))!.n;

    const { key: readerKey } = await createKey(tenant, ["reader"]);
    const stats = await json(await call("/v1/stats", { auth: readerKey }));
    expect(stats).toMatchObject({
      documents: 3,
      collections: 2,
      index_version: await indexVersion(tenant),
      vector_dimensions: loadConfig(env).EMBEDDING_DIMENSIONS,
    });
    expect(stats.chunks).toBe(await chunks());
    expect(stats.chunks).toBeGreaterThanOrEqual(3);
    expect(stats.embedding_model).toEqual(expect.any(String));
    expect(stats.embedding_model.length).toBeGreaterThan(0);

    expect((await call("/v1/documents/p", { method: "DELETE", auth: key })).status).toBe(204);
    const after = await json(await call("/v1/stats", { auth: readerKey }));
    expect(after).toMatchObject({ documents: 2, collections: 1, chunks: await chunks(), index_version: stats.index_version + 1 });
  });
});

describe("GET /v1/stats (security)", () => {
  it("needs credentials", async () => {
    const response = await call("/v1/stats");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("counts only the caller's tenant", async () => {
    const a = uniqueTenant("stats-a");
    const b = uniqueTenant("stats-b");
    const { key: writerA } = await createKey(a, ["writer"]);
    await waitForJob(writerA, (await ingest(writerA, { documents: [{ text: PARAGRAPHS.lighthouse }] })).job_id);
    const { key: readerB } = await createKey(b, ["reader"]);
    expect(await json(await call("/v1/stats", { auth: readerB }))).toMatchObject({
      documents: 0,
      chunks: 0,
      collections: 0,
      index_version: 0,
      embedding_model: null,
    });
    expect((await json(await call("/v1/stats", { auth: writerA }))).documents).toBe(1);
  });
});
