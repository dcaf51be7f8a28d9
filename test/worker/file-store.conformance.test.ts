import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { FileStoreUnavailable } from "../../src/errors";
import { createR2FileStore, type FileStore } from "../../src/ingest/file-store";
import { uniqueTenant } from "./helpers";

/**
 * One suite for the files port (src/ingest/file-store.ts), run against every adapter: the R2 bucket
 * (the FILES binding, R2 as workerd runs it locally).
 */
const adapters: Array<{ name: string; create: () => FileStore }> = [{ name: "r2", create: () => createR2FileStore(env.FILES) }];

const file = (text: string, filename = "a.md", contentType = "text/markdown") => ({ body: new Blob([text]), contentType, filename });
const read = async (store: FileStore, tenant: string, key: string) => {
  const stored = await store.get(tenant, key);
  return stored && { ...stored, text: await new Response(stored.body).text() };
};

describe.each(adapters)("FileStore conformance: $name", ({ create }) => {
  it("returns what was put, with its content type, file name and size, under a key of its own per upload (happy)", async () => {
    const store = create();
    const tenant = uniqueTenant("fs");
    const first = await store.put(tenant, "doc.md", file("Zürich — 東京", "Notes (v1).md"));
    const second = await store.put(tenant, "doc.md", file("second"));
    expect(first).not.toBe(second);
    expect(first.startsWith(`tenants/${tenant}/documents/doc.md/`)).toBe(true);
    expect(await read(store, tenant, first)).toMatchObject({
      text: "Zürich — 東京",
      contentType: "text/markdown",
      filename: "Notes (v1).md",
      size: new TextEncoder().encode("Zürich — 東京").length,
    });
    expect(await read(store, tenant, second)).toMatchObject({ text: "second" });
  });

  it("returns null for a missing key, and for a key of another tenant (security)", async () => {
    const store = create();
    const [owner, stranger] = [uniqueTenant("fs-owner"), uniqueTenant("fs-stranger")];
    const key = await store.put(owner, "doc.md", file("private"));
    expect(await store.get(stranger, key)).toBeNull();
    expect(await store.get(owner, `tenants/${owner}/documents/doc.md/missing`)).toBeNull();
    // A tenant whose name starts with another's does not share its prefix.
    expect(await store.get(`${owner}x`, key)).toBeNull();
  });

  it("deletes keys, a document's originals, and a tenant's, leaving the others (happy)", async () => {
    const store = create();
    const [tenant, other] = [uniqueTenant("fs-del"), uniqueTenant("fs-keep")];
    const a = await store.put(tenant, "a.md", file("a"));
    const a2 = await store.put(tenant, "a.md", file("a2"));
    const ab = await store.put(tenant, "a.md.bak", file("ab"));
    const b = await store.put(tenant, "b.md", file("b"));
    const kept = await store.put(other, "a.md", file("kept"));

    await store.delete([a]);
    expect(await store.get(tenant, a)).toBeNull();
    await store.delete([a]); // a missing key is no error
    expect(await store.deleteDocument(tenant, "a.md")).toBe(1);
    expect(await store.get(tenant, a2)).toBeNull();
    // "a.md" is not a prefix of "a.md.bak"'s originals.
    expect(await read(store, tenant, ab)).toMatchObject({ text: "ab" });
    expect(await store.deleteTenant(tenant)).toBe(2);
    expect(await store.get(tenant, b)).toBeNull();
    expect(await store.get(tenant, ab)).toBeNull();
    expect(await read(store, other, kept)).toMatchObject({ text: "kept" });
  });

  it("deletes a prefix of more than one listing page (R2 lists 1,000 keys a call)", async () => {
    const store = create();
    const tenant = uniqueTenant("fs-many");
    await Promise.all(Array.from({ length: 1_005 }, (_, i) => env.FILES.put(`tenants/${tenant}/documents/d${i}/k`, "x")));
    expect(await store.deleteTenant(tenant)).toBe(1_005);
    expect((await env.FILES.list({ prefix: `tenants/${tenant}/` })).objects).toEqual([]);
  }, 60_000);
});

describe("FileStore without a bucket (error)", () => {
  it("fails every call with FileStoreUnavailable (503), never a TypeError", async () => {
    const store = createR2FileStore(undefined);
    await expect(store.put("t", "d", file("x"))).rejects.toBeInstanceOf(FileStoreUnavailable);
    await expect(store.get("t", "tenants/t/documents/d/k")).rejects.toMatchObject({ status: 503, code: "FILE_STORE_UNAVAILABLE" });
    await expect(store.deleteTenant("t")).rejects.toBeInstanceOf(FileStoreUnavailable);
  });
});
