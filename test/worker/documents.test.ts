import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { localServices } from "../../src/local";
import { call, callWithEnv, createKey, json, tenantFirst, tenantSql, uniqueTenant } from "./helpers";
import { chunkRows, indexVersion, ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

/** POST/GET/DELETE /v1/documents, end to end: real D1, real queue and consumer, real origin, the local vector index. */

async function writer(label = "docs") {
  const tenant = uniqueTenant(label);
  const { key } = await createKey(tenant, ["writer"]);
  return { tenant, key };
}

const documentCount = async (tenant: string) => (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM documents"))!.n;

const jobCount = async (tenant: string) => (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM jobs"))!.n;

/** Rows of the tenant's keyword index that match an FTS5 expression. */
const keywordRows = async (tenant: string, match: string) =>
  (await tenantSql(tenant, "SELECT rowid FROM kw WHERE kw MATCH ?1", match)).length;

describe("POST /v1/documents — validation (error)", () => {
  const text = "A short but valid document.";
  const cases: Array<[string, unknown, RegExp]> = [
    ["no documents array", {}, /documents/],
    ["an empty documents array", { documents: [] }, /documents/],
    ["more than 1000 documents", { documents: Array.from({ length: 1001 }, (_, i) => ({ id: `d${i}`, text: "x" })) }, /documents/],
    ["an unknown top-level field", { documents: [{ text }], colection: "typo" }, /colection|unrecognized/i],
    ["an unknown document field", { documents: [{ text, title: "t" }] }, /title|unrecognized/i],
    ["an empty text", { documents: [{ text: "" }] }, /documents\.0\.text/],
    ["a whitespace-only text", { documents: [{ text: " \n\t " }] }, /documents\.0\.text: must contain more than whitespace/],
    ["a text over 1,000,000 characters", { documents: [{ text: "a".repeat(1_000_001) }] }, /documents\.0\.text/],
    ["a text of more than 1,900,000 UTF-8 bytes", { documents: [{ text: "€".repeat(700_000) }] }, /bytes of UTF-8/],
    ["a NUL character in the text", { documents: [{ text: "a\u0000b" }] }, /NUL/],
    ["a non-string text", { documents: [{ text: 42 }] }, /documents\.0\.text/],
    ["an id with a bad first character", { documents: [{ id: "-x", text }] }, /documents\.0\.id/],
    ["an id with a slash", { documents: [{ id: "a/b", text }] }, /documents\.0\.id/],
    ["an id over 128 characters", { documents: [{ id: "a".repeat(129), text }] }, /documents\.0\.id/],
    [
      "duplicate ids in one request",
      {
        documents: [
          { id: "same", text },
          { id: "other", text },
          { id: "same", text },
        ],
      },
      /documents\.2\.id: duplicates documents\.0\.id/,
    ],
    ["an upper-case collection", { documents: [{ text }], collection: "Papers" }, /collection/],
    ["a collection over 64 characters", { documents: [{ text }], collection: "c".repeat(65) }, /collection/],
    ["metadata that is an array", { documents: [{ text, metadata: ["a"] }] }, /metadata/],
    ["a nested metadata value", { documents: [{ text, metadata: { a: { b: 1 } } }] }, /metadata\.a/],
    ["a null metadata value", { documents: [{ text, metadata: { a: null } }] }, /metadata\.a/],
    ["an array metadata value", { documents: [{ text, metadata: { tags: ["x"] } }] }, /metadata\.tags/],
    ["a metadata key with a dash", { documents: [{ text, metadata: { "bad-key": 1 } }] }, /metadata\.bad-key/],
    ["a metadata key starting with a digit", { documents: [{ text, metadata: { "1st": 1 } }] }, /metadata\.1st/],
    ["a metadata key over 64 characters", { documents: [{ text, metadata: { ["k".repeat(65)]: 1 } }] }, /keys must match/],
    ["the reserved key document_id", { documents: [{ text, metadata: { document_id: "x" } }] }, /document_id.*reserved/],
    ["the reserved key collection", { documents: [{ text, metadata: { collection: "x" } }] }, /collection.*reserved/],
    [
      "more than 32 metadata keys",
      { documents: [{ text, metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }] },
      /33 keys/,
    ],
    ["a metadata string over 1024 characters", { documents: [{ text, metadata: { note: "n".repeat(1025) } }] }, /metadata\.note/],
    [
      "metadata over 8 KiB of JSON",
      { documents: [{ text, metadata: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, "v".repeat(1000)])) }] },
      /at most 8192/,
    ],
  ];

  for (const [name, body, detail] of cases) {
    it(`rejects ${name} with 400 VALIDATION_FAILED and stores nothing`, async () => {
      const { tenant, key } = await writer();
      const response = await call("/v1/documents", { auth: key, body });
      expect(response.status).toBe(400);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      const problem = await json(response);
      expect(problem.code).toBe("VALIDATION_FAILED");
      expect(problem.detail).toMatch(detail);
      expect(await documentCount(tenant)).toBe(0);
      expect(await jobCount(tenant)).toBe(0);
    });
  }

  it("rejects a __proto__ metadata key by name, without touching any prototype", async () => {
    const { tenant, key } = await writer();
    const response = await call("/v1/documents", {
      auth: key,
      body: `{"documents":[{"text":"x","metadata":{"__proto__":{"polluted":true}}}]}`,
    });
    expect(response.status).toBe(400);
    expect((await json(response)).detail).toMatch(/__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await documentCount(tenant)).toBe(0);
  });

  it("rejects malformed JSON with 400 and a non-JSON body with 415", async () => {
    const { key } = await writer();
    const malformed = await call("/v1/documents", { auth: key, body: '{"documents": [', headers: { "content-type": "application/json" } });
    expect(malformed.status).toBe(400);
    const text = await call("/v1/documents", { auth: key, body: "documents", headers: { "content-type": "text/plain" } });
    expect([400, 415]).toContain(text.status);
    expect(text.headers.get("content-type")).toContain("application/problem+json");
  });

  it("rejects a body over 10 MiB with 413", async () => {
    const { key } = await writer();
    const big = JSON.stringify({ documents: Array.from({ length: 11 }, (_, i) => ({ id: `big${i}`, text: "b".repeat(1_000_000) })) });
    const response = await call("/v1/documents", { auth: key, body: big });
    expect(response.status).toBe(413);
    expect((await json(response)).code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("accepts the limits themselves: 1000 documents in ≤ 100-message send batches, a 1,000,000-character text, 32 metadata keys", async () => {
    const { tenant, key } = await writer();
    // The producer side only: a queue that records what it is given (these documents are not for indexing).
    const sent: Array<Array<{ body: { document_ids: string[] } }>> = [];
    const recordingQueue = {
      send: () => Promise.reject(new Error("the ingestion path uses sendBatch")),
      sendBatch: async (messages: Array<{ body: { document_ids: string[] } }>) => void sent.push(messages),
    };
    const many = await callWithEnv({ INGEST_QUEUE: recordingQueue }, "/v1/documents", {
      auth: key,
      body: { documents: Array.from({ length: 1000 }, (_, i) => ({ id: `n${i}`, text: `note ${i}` })) },
    });
    expect(many.status).toBe(202);
    expect((await json(many)).accepted).toBe(1000);
    expect(sent.every((batch) => batch.length <= 100)).toBe(true);
    expect(sent.flat().every((message) => message.body.document_ids.length <= 20)).toBe(true);
    expect(
      sent
        .flat()
        .flatMap((message) => message.body.document_ids)
        .sort(),
    ).toEqual(Array.from({ length: 1000 }, (_, i) => `n${i}`).sort());

    const long = await callWithEnv({ INGEST_QUEUE: recordingQueue }, "/v1/documents", {
      auth: key,
      body: {
        documents: [
          { id: "long", text: "word ".repeat(200_000), metadata: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, i])) },
        ],
      },
    });
    expect(long.status).toBe(202);
    expect(await documentCount(tenant)).toBe(1001);
  });

  it("stores a text exactly even when its JSON escaping is larger than one D1 parameter", async () => {
    const { tenant, key } = await writer();
    const recordingQueue = { send: async () => {}, sendBatch: async () => {} };
    // 1,000,000 characters whose JSON form is 1.75 MB (quotes, newlines and backslashes escaped).
    const text = 'a"\n\\'.repeat(250_000);
    expect(text).toHaveLength(1_000_000);
    const response = await callWithEnv({ INGEST_QUEUE: recordingQueue }, "/v1/documents", {
      auth: key,
      body: { documents: [{ id: "escaped", text }] },
    });
    expect(response.status).toBe(202);
    const stored = await tenantFirst<{ text: string }>(tenant, "SELECT text FROM documents WHERE id = 'escaped'");
    expect(stored?.text).toBe(text);
  });
});

describe("POST /v1/documents — security", () => {
  const body = { documents: [{ text: "Nobody may store this without the writer role." }] };

  it("answers 401 with WWW-Authenticate without credentials, and stores nothing", async () => {
    const response = await call("/v1/documents", { body });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("answers 401 for an invalid API key", async () => {
    const response = await call("/v1/documents", { body, auth: "erk_aaaaaaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(response.status).toBe(401);
  });

  it("answers 403 to a reader, and stores nothing", async () => {
    const tenant = uniqueTenant("reader");
    const { key } = await createKey(tenant, ["reader"]);
    const response = await call("/v1/documents", { body, auth: key });
    expect(response.status).toBe(403);
    expect((await json(response)).code).toBe("FORBIDDEN");
    expect(await documentCount(tenant)).toBe(0);
  });

  it("answers 403 to a reader deleting, and deletes nothing", async () => {
    const { tenant, key } = await writer();
    const { job_id } = await ingest(key, { documents: [{ id: "keep", text: PARAGRAPHS.volcano }] });
    await waitForJob(key, job_id);
    const { key: readerKey } = await createKey(tenant, ["reader"]);
    const response = await call("/v1/documents/keep", { method: "DELETE", auth: readerKey });
    expect(response.status).toBe(403);
    expect(await documentCount(tenant)).toBe(1);
  });
});

describe("documents — happy path with the real origin", () => {
  it("accepts documents with 202, indexes them, and GET returns each with its chunk count", async () => {
    const { tenant, key } = await writer();
    const response = await call("/v1/documents", {
      auth: key,
      body: {
        collection: "history",
        documents: [
          { id: "lighthouse", text: PARAGRAPHS.lighthouse, metadata: { lang: "en", year: -280, wonder: true } },
          { id: "printing", text: PARAGRAPHS.printing, metadata: { lang: "en" } },
          { text: PARAGRAPHS.volcano },
        ],
      },
    });
    expect(response.status).toBe(202);
    const accepted = await json(response);
    expect(accepted).toEqual({
      job_id: expect.stringMatching(/^job_[0-9a-f]{32}$/),
      accepted: 3,
      status_url: `/v1/jobs/${accepted.job_id}`,
    });
    expect(response.headers.get("location")).toBe(accepted.status_url);

    const job = await waitForJob(key, accepted.job_id);
    expect(job).toMatchObject({ status: "done", documents: 3, processed: 3, skipped: 0, failed: 0, errors: [] });
    expect(job.chunks).toBeGreaterThanOrEqual(3);
    expect(job.index_version).toBeGreaterThanOrEqual(1);

    const read = await call("/v1/documents/lighthouse", { auth: key });
    expect(read.status).toBe(200);
    const document = await json(read);
    expect(document).toMatchObject({
      id: "lighthouse",
      collection: "history",
      text: PARAGRAPHS.lighthouse,
      metadata: { lang: "en", year: -280, wonder: true },
      status: "indexed",
      job_id: accepted.job_id,
      error: null,
    });
    expect(document.chunk_count).toBeGreaterThanOrEqual(1);
    expect(Date.parse(document.created_at)).not.toBeNaN();
    const chunks = await chunkRows(tenant, "lighthouse");
    expect(chunks).toHaveLength(document.chunk_count);
    expect(chunks.every((chunk) => /^c_[0-9a-f]{40}$/.test(chunk.id) && chunk.collection === "history")).toBe(true);

    // The generated id is a UUID, and that document is stored too.
    const generated = await tenantFirst<{ id: string }>(tenant, "SELECT id FROM documents WHERE id NOT IN ('lighthouse', 'printing')");
    expect(generated?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a reader may read a document; an unknown id is 404 and a malformed id 400", async () => {
    const { tenant, key } = await writer();
    const { job_id } = await ingest(key, { documents: [{ id: "a.b:c-d_e", text: PARAGRAPHS.glaciers }] });
    await waitForJob(key, job_id);
    const { key: readerKey } = await createKey(tenant, ["reader"]);
    expect((await call("/v1/documents/a.b:c-d_e", { auth: readerKey })).status).toBe(200);
    const missing = await call("/v1/documents/nope", { auth: readerKey });
    expect(missing.status).toBe(404);
    expect((await json(missing)).code).toBe("NOT_FOUND");
    expect((await call("/v1/documents/-bad", { auth: readerKey })).status).toBe(400);
  });

  it("re-sending an unchanged document is a no-op: counted as skipped, nothing re-embedded or bumped", async () => {
    const { tenant, key } = await writer();
    const body = { documents: [{ id: "g", text: PARAGRAPHS.glaciers, metadata: { a: 1, b: "x" } }] };
    await waitForJob(key, (await ingest(key, body)).job_id);
    const chunksBefore = await chunkRows(tenant, "g");
    const versionBefore = await indexVersion(tenant);

    // Same content, metadata keys in another order: still the same document.
    const again = await ingest(key, { documents: [{ id: "g", text: PARAGRAPHS.glaciers, metadata: { b: "x", a: 1 } }] });
    const job = await waitForJob(key, again.job_id);
    expect(job).toMatchObject({ status: "done", processed: 0, skipped: 1, failed: 0, chunks: 0 });
    expect(await chunkRows(tenant, "g")).toEqual(chunksBefore);
    expect(await indexVersion(tenant)).toBe(versionBefore);
  });

  it("a changed document replaces its old chunks and vectors", async () => {
    const { tenant, key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [{ id: "doc", text: PARAGRAPHS.printing }] })).job_id);
    const oldChunks = await chunkRows(tenant, "doc");
    const versionBefore = await indexVersion(tenant);
    expect(oldChunks.length).toBeGreaterThan(0);

    const job = await waitForJob(key, (await ingest(key, { documents: [{ id: "doc", text: PARAGRAPHS.lighthouse }] })).job_id);
    expect(job).toMatchObject({ status: "done", processed: 1, skipped: 0 });
    const newChunks = await chunkRows(tenant, "doc");
    expect(newChunks.map((c) => c.text).join(" ")).toContain("Pharos");
    expect(newChunks.map((c) => c.text).join(" ")).not.toContain("Gutenberg");
    expect(newChunks.some((c) => oldChunks.some((o) => o.id === c.id))).toBe(false);
    expect(await indexVersion(tenant)).toBeGreaterThan(versionBefore);

    const vectors = localServices(env).vectors;
    expect(await vectors.getByIds(oldChunks.map((c) => c.id))).toEqual([]);
    const current = await vectors.getByIds(newChunks.map((c) => c.id));
    expect(current.map((v) => v.id).sort()).toEqual(newChunks.map((c) => c.id).sort());
    expect(current[0]).toMatchObject({ namespace: tenant, metadata: { document_id: "doc", collection: "default" } });
    // Keyword search sees only the new text.
    expect(await keywordRows(tenant, "Gutenberg")).toBe(0);
  });

  it("DELETE removes the document, its chunks and vectors, bumps the version; a second DELETE is 404", async () => {
    const { tenant, key } = await writer();
    await waitForJob(
      key,
      (
        await ingest(key, {
          documents: [
            { id: "gone", text: PARAGRAPHS.volcano },
            { id: "stays", text: PARAGRAPHS.glaciers },
          ],
        })
      ).job_id,
    );
    const chunks = await chunkRows(tenant, "gone");
    const versionBefore = await indexVersion(tenant);

    const response = await call("/v1/documents/gone", { method: "DELETE", auth: key });
    expect(response.status).toBe(204);
    expect((await call("/v1/documents/gone", { auth: key })).status).toBe(404);
    expect(await chunkRows(tenant, "gone")).toEqual([]);
    expect(await indexVersion(tenant)).toBe(versionBefore + 1);
    expect(await keywordRows(tenant, "Vesuvius")).toBe(0);

    expect(await localServices(env).vectors.getByIds(chunks.map((c) => c.id))).toEqual([]);
    expect(await tenantSql(tenant, "SELECT id FROM vector_deletions")).toEqual([]);
    expect((await call("/v1/documents/stays", { auth: key })).status).toBe(200);
    expect((await call("/v1/documents/gone", { method: "DELETE", auth: key })).status).toBe(404);
  });
});

describe("GET /v1/documents — listing", () => {
  const ids = (body: { documents: Array<{ id: string }> }) => body.documents.map((document) => document.id);

  it("pages through a tenant's documents in id order, without their text, and filters by collection and status (happy)", async () => {
    const { tenant, key } = await writer("list");
    await ingest(key, { documents: ["d3", "d1", "d5"].map((id) => ({ id, text: PARAGRAPHS.glaciers, metadata: { n: id } })) });
    const { job_id } = await ingest(key, {
      collection: "notes",
      documents: ["d2", "d4"].map((id) => ({ id, text: PARAGRAPHS.lighthouse })),
    });
    await waitForJob(key, job_id);
    const { key: readerKey } = await createKey(tenant, ["reader"]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await call(`/v1/documents?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { auth: readerKey });
      expect(response.status).toBe(200);
      const page = await json(response);
      expect(page.documents.length).toBeLessThanOrEqual(2);
      for (const document of page.documents) expect(document).not.toHaveProperty("text");
      seen.push(...ids(page));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(["d1", "d2", "d3", "d4", "d5"]);

    const notes = await json(await call("/v1/documents?collection=notes", { auth: readerKey }));
    expect(ids(notes)).toEqual(["d2", "d4"]);
    expect(notes.documents[0]).toMatchObject({ collection: "notes", status: "indexed", job_id: job_id });
    expect(notes.next_cursor).toBeNull();
    const first = await json(await call("/v1/documents?limit=1", { auth: readerKey }));
    expect(first.documents[0]).toMatchObject({ id: "d1", collection: "default", metadata: { n: "d1" } });
    expect(ids(await json(await call("/v1/documents?status=failed", { auth: readerKey })))).toEqual([]);
  });

  it("never lists another tenant's documents (security)", async () => {
    const a = await writer("list-a");
    const b = await writer("list-b");
    await ingest(a.key, { documents: [{ id: "private", text: PARAGRAPHS.glaciers }] });
    const response = await call("/v1/documents", { auth: b.key });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ documents: [], next_cursor: null });
    expect((await call("/v1/documents")).status).toBe(401);
  });

  it.each([
    ["limit=0", /limit/],
    ["limit=101", /limit/],
    ["limit=ten", /limit/],
    ["status=deleted", /status/],
    ["collection=Bad", /collection/],
    ["cursor=%2F%2F%2F", /cursor/],
    ["cursor=LWJhZA", /cursor/], // "-bad": decodes, but is no document id
  ])("answers 400 to %s (error)", async (query, field) => {
    const { key } = await writer("list-bad");
    const response = await call(`/v1/documents?${query}`, { auth: key });
    expect(response.status).toBe(400);
    const problem = await json(response);
    expect(problem.code).toBe("VALIDATION_FAILED");
    expect(JSON.stringify(problem)).toMatch(field);
  });
});

describe("documents — tenant isolation (security)", () => {
  it("the same id in two tenants is two documents; neither can read, delete or overwrite the other's", async () => {
    const a = await writer("iso-a");
    const b = await writer("iso-b");
    await waitForJob(
      a.key,
      (await ingest(a.key, { documents: [{ id: "shared", text: PARAGRAPHS.lighthouse, metadata: { owner: "a" } }] })).job_id,
    );
    await waitForJob(
      b.key,
      (await ingest(b.key, { documents: [{ id: "shared", text: PARAGRAPHS.glaciers, metadata: { owner: "b" } }] })).job_id,
    );

    expect((await json(await call("/v1/documents/shared", { auth: a.key }))).metadata).toEqual({ owner: "a" });
    expect((await json(await call("/v1/documents/shared", { auth: b.key }))).metadata).toEqual({ owner: "b" });
    const aChunks = await chunkRows(a.tenant, "shared");
    const bChunks = await chunkRows(b.tenant, "shared");
    expect(aChunks.some((c) => bChunks.some((d) => d.id === c.id))).toBe(false);

    // B deletes "its" shared: A's is untouched, in D1 and in the vector index.
    expect((await call("/v1/documents/shared", { method: "DELETE", auth: b.key })).status).toBe(204);
    expect((await call("/v1/documents/shared", { method: "DELETE", auth: b.key })).status).toBe(404);
    const stillA = await json(await call("/v1/documents/shared", { auth: a.key }));
    expect(stillA).toMatchObject({ text: PARAGRAPHS.lighthouse, status: "indexed" });
    expect(await chunkRows(a.tenant, "shared")).toEqual(aChunks);
    const vectors = await localServices(env).vectors.getByIds(aChunks.map((c) => c.id));
    expect(vectors).toHaveLength(aChunks.length);
    expect(vectors.every((v) => v.namespace === a.tenant)).toBe(true);
  });

  it("identical content under the same id in another tenant is indexed again, not deduplicated across tenants", async () => {
    const a = await writer("iso-a");
    const b = await writer("iso-b");
    const body = { documents: [{ id: "twin", text: PARAGRAPHS.printing, metadata: { k: 1 } }] };
    expect(await waitForJob(a.key, (await ingest(a.key, body)).job_id)).toMatchObject({ processed: 1, skipped: 0 });
    expect(await waitForJob(b.key, (await ingest(b.key, body)).job_id)).toMatchObject({ processed: 1, skipped: 0 });
    const bChunks = await chunkRows(b.tenant, "twin");
    const vectors = await localServices(env).vectors.getByIds(bChunks.map((c) => c.id));
    expect(vectors.map((v) => v.namespace)).toEqual(bChunks.map(() => b.tenant));
  });

  it("a tenant reading another tenant's document id gets 404, exactly like a missing one", async () => {
    const a = await writer("iso-a");
    const b = await writer("iso-b");
    await waitForJob(a.key, (await ingest(a.key, { documents: [{ id: "private", text: PARAGRAPHS.printing }] })).job_id);
    const response = await call("/v1/documents/private", { auth: b.key });
    expect(response.status).toBe(404);
    expect((await json(response)).detail).toBe("document private was not found");
  });
});

describe("POST /v1/documents — the queue is down (error)", () => {
  const brokenQueue = {
    send: () => Promise.reject(new Error("Queue send failed: simulated outage")),
    sendBatch: () => Promise.reject(new Error("Queue sendBatch failed: simulated outage")),
  };

  it("answers 503 INGEST_QUEUE_UNAVAILABLE with the job id; the documents are stored and the job waits for the sweep", async () => {
    const { tenant, key } = await writer();
    const response = await callWithEnv({ INGEST_QUEUE: brokenQueue }, "/v1/documents", {
      auth: key,
      body: { documents: [{ id: "kept", text: PARAGRAPHS.glaciers }] },
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("30");
    const problem = await json(response);
    expect(problem).toMatchObject({
      code: "INGEST_QUEUE_UNAVAILABLE",
      job_id: expect.stringMatching(/^job_/),
      status_url: expect.stringMatching(/^\/v1\/jobs\//),
    });
    expect(JSON.stringify(problem)).not.toMatch(/simulated outage/);

    const stored = await tenantFirst(tenant, "SELECT status, text FROM documents WHERE id = 'kept'");
    expect(stored).toEqual({ status: "queued", text: PARAGRAPHS.glaciers });
    const job = await tenantFirst(tenant, "SELECT status, enqueued_at FROM jobs WHERE id = ?1", problem.job_id);
    expect(job).toEqual({ status: "queued", enqueued_at: null });
  });

  it("retrying the same request once the queue is back indexes the documents", async () => {
    const { key } = await writer();
    const body = { documents: [{ id: "retry-me", text: PARAGRAPHS.printing }] };
    expect((await callWithEnv({ INGEST_QUEUE: brokenQueue }, "/v1/documents", { auth: key, body })).status).toBe(503);
    const job = await waitForJob(key, (await ingest(key, body)).job_id);
    expect(job).toMatchObject({ status: "done", processed: 1, skipped: 0 });
    expect((await json(await call("/v1/documents/retry-me", { auth: key }))).status).toBe("indexed");
  });
});

describe("OpenAPI document (happy)", () => {
  it("describes the ingestion routes with their request and response schemas", async () => {
    const response = await call("/openapi.json");
    expect(response.status).toBe(200);
    const doc = await json(response);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/documents", "/v1/documents/{id}", "/v1/jobs/{id}", "/v1/stats"]));
    expect(Object.keys(doc.paths["/v1/documents"]).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.paths["/v1/documents/{id}"]).sort()).toEqual(["delete", "get"]);
    const ingestRequest = doc.components.schemas.IngestRequest;
    expect(ingestRequest.required).toEqual(["documents"]);
    expect(ingestRequest.additionalProperties).toBe(false);
    expect(doc.components.schemas.DocumentInput.properties.metadata.additionalProperties).toBeDefined();
    expect(doc.paths["/v1/documents"].post.responses).toHaveProperty("202");
    expect(doc.components.schemas.Job.properties.status.enum).toEqual(["queued", "processing", "done", "failed"]);
  });
});
