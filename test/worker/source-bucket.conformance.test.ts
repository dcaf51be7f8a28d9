import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { FileStoreUnavailable } from "../../src/errors";
import { createR2SourceBucket, type SourceBucket, sourcesArea } from "../../src/ingest/source-bucket";
import { uniqueTenant } from "./helpers";

/**
 * One suite for the sources port (src/ingest/source-bucket.ts), run against every adapter: the R2
 * bucket (the SOURCES binding, R2 as workerd runs it locally). Objects are put as a team's
 * pipeline puts them, straight into the bucket under the tenant's area.
 */
const adapters: Array<{ name: string; create: () => SourceBucket }> = [{ name: "r2", create: () => createR2SourceBucket(env.SOURCES) }];

const put = (tenant: string, key: string, body: string, contentType?: string) =>
  env.SOURCES.put(`${sourcesArea(tenant)}${key}`, body, contentType ? { httpMetadata: { contentType } } : undefined);

/** Every key under the prefix, a page of `limit` at a time. */
async function listAll(sources: SourceBucket, tenant: string, prefix: string, limit: number) {
  const pages: string[][] = [];
  for (let cursor: string | undefined; ; ) {
    const page = await sources.list(tenant, prefix, { cursor, limit });
    pages.push(page.objects.map((object) => object.key));
    if (page.cursor === null) return pages;
    cursor = page.cursor;
  }
}

describe.each(adapters)("SourceBucket conformance: $name", ({ create }) => {
  it("lists the keys under the prefix, relative to it, in key order, a page at a time, with their ETags and sizes (happy)", async () => {
    const sources = create();
    const tenant = uniqueTenant("src");
    for (const key of ["docs/b.md", "docs/a.md", "docs/sub/c.md", "docs-old/x.md", "other/y.md"]) await put(tenant, key, `text of ${key}`);
    expect(await listAll(sources, tenant, "docs/", 2)).toEqual([["a.md", "b.md"], ["sub/c.md"]]);
    const [first] = (await sources.list(tenant, "docs/", { limit: 10 })).objects;
    const stored = await env.SOURCES.head(`${sourcesArea(tenant)}docs/a.md`);
    expect(first).toEqual({ key: "a.md", etag: stored!.etag, size: "text of docs/a.md".length });
    // "" is the tenant's whole area.
    expect((await listAll(sources, tenant, "", 1000)).flat()).toEqual([
      "docs-old/x.md",
      "docs/a.md",
      "docs/b.md",
      "docs/sub/c.md",
      "other/y.md",
    ]);
  });

  it("reads an object by its relative key, with its content type, or null once it is gone (happy)", async () => {
    const sources = create();
    const tenant = uniqueTenant("src-get");
    await put(tenant, "docs/a.md", "# A", "text/markdown");
    await put(tenant, "docs/raw.pdf", "%PDF");
    const object = await sources.get(tenant, "docs/", "a.md");
    expect(object).toMatchObject({ key: "a.md", contentType: "text/markdown", size: 3 });
    expect(await object!.body.text()).toBe("# A");
    // No stored type: the parser reads the key's extension.
    expect(await sources.get(tenant, "docs/", "raw.pdf")).toMatchObject({ contentType: "application/octet-stream" });
    await env.SOURCES.delete(`${sourcesArea(tenant)}docs/a.md`);
    expect(await sources.get(tenant, "docs/", "a.md")).toBeNull();
  });

  it("never reaches another tenant's area (security)", async () => {
    const sources = create();
    const [owner, stranger] = [uniqueTenant("src-owner"), uniqueTenant("src-stranger")];
    await put(owner, "secret.md", "private");
    // A tenant whose name starts with another's does not share its area.
    await put(`${owner}x`, "other.md", "not the owner's");
    expect((await sources.list(stranger, "", { limit: 100 })).objects).toEqual([]);
    expect((await sources.list(owner, "", { limit: 100 })).objects.map((object) => object.key)).toEqual(["secret.md"]);
    expect(await sources.get(stranger, "", `../../${owner}/sources/secret.md`)).toBeNull();
    expect(await sources.get(stranger, "./", "secret.md")).toBeNull();
  });
});

describe("SourceBucket without a bucket (error)", () => {
  it("fails every call with FileStoreUnavailable (503), never a TypeError", async () => {
    const sources = createR2SourceBucket(undefined);
    await expect(sources.list("t", "", { limit: 10 })).rejects.toBeInstanceOf(FileStoreUnavailable);
    await expect(sources.get("t", "", "a.md")).rejects.toMatchObject({ status: 503, code: "FILE_STORE_UNAVAILABLE" });
  });
});
