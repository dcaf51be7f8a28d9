import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { FILE_LIMITS } from "../../src/ingest/document-input";
import { localServices } from "../../src/local";
import { documentIdOf } from "../../src/routes/documents";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, tenantFirst, tenantSql, uniqueTenant } from "./helpers";
import { ingest, type JobBody, waitForJob } from "./ingest-fixtures";
import { DOCX_FACT, PDF_FACT } from "./test-files";

/**
 * POST /v1/documents/files and GET /v1/documents/{id}/file, end to end: the real origin parses
 * (PDF, HTML, DOCX, Markdown), the originals go to the local R2 bucket, the real queue and consumer
 * index by blocks, and sources carry `page` and `section`.
 */

const files = inject("testFiles");
const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
const PDF = bytesOf(files.pdf);

const HTML_FACT = "The kestrel valve opens at 42 kilopascals.";
const ARTICLE_HTML = `<!doctype html>
<html><head><title>Pump Docs</title></head>
<body>
  <nav><ul><li><a href="/">Home</a></li><li><a href="/deals">Seasonal pump deals</a></li><li><a href="/login">Sign in to PumpCloud</a></li></ul></nav>
  <header><div class="banner">Join the pump newsletter today</div></header>
  <main><article>
    <h1>Pump manual</h1>
    <p>${"Reading this manual keeps every pump owner safe, and this paragraph says so at some length. ".repeat(5)}</p>
    <h2>Maintenance</h2>
    <p>${"Regular maintenance matters for every pump, and this paragraph says so at some length. ".repeat(5)}</p>
    <h3>Valves</h3>
    <p>Check the valves twice a year. ${HTML_FACT} Close it before any repair.</p>
  </article></main>
  <footer>Copyright 2026 Pump Corp. Privacy policy.</footer>
</body></html>`;
const HTML_NOISE = ["Seasonal pump deals", "Sign in to PumpCloud", "newsletter", "Copyright 2026"];

const MARKDOWN_FACT = "The osprey batch ships every third Thursday.";
const MARKDOWN = `# Shipping

Orders leave the warehouse daily.

## Batches

${MARKDOWN_FACT}
`;

type Part = { name: string; type: string; bytes: Uint8Array | string };

/** A multipart upload, as a browser or curl sends it. */
function upload(key: string, parts: Part[], fields: Record<string, string> = {}, extra?: (form: FormData) => void): Promise<Response> {
  const form = new FormData();
  for (const part of parts) form.append("file", new File([part.bytes], part.name, { type: part.type }));
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  extra?.(form);
  return exports.default.fetch(
    new Request("http://edge-rag.test/v1/documents/files", { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form }),
  );
}

interface Accepted {
  job_id: string;
  accepted: number;
  failed: Array<{ document_id: string; error: string }>;
  status_url: string;
}

async function writer(label = "files") {
  const tenant = uniqueTenant(label);
  const { key } = await createKey(tenant, ["writer"]);
  return { tenant, key };
}

const originals = async (tenant: string, documentId = "") =>
  (await env.FILES.list({ prefix: `tenants/${tenant}/documents/${documentId}` })).objects.map((object) => object.key);

const jobCount = async (tenant: string) => (await tenantFirst<{ n: number }>(tenant, "SELECT COUNT(*) AS n FROM jobs"))!.n;

interface SourceBody {
  document_id: string;
  text: string;
  page?: number;
  section?: string;
}

async function search(key: string, query: string, collection?: string): Promise<SourceBody[]> {
  const response = await call("/v1/search", {
    auth: key,
    body: { query, top_k: 10, cache: false, ...(collection ? { filters: { collection } } : {}) },
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await json<{ results: SourceBody[] }>(response)).results;
}

describe("POST /v1/documents/files (happy)", () => {
  it("indexes HTML and Markdown files by their headings: chunks and sources carry the section path, navigation noise is dropped", async () => {
    const { tenant, key } = await writer();
    const response = await upload(
      key,
      [
        { name: "pump manual.html", type: "text/html; charset=utf-8", bytes: ARTICLE_HTML },
        { name: "shipping.md", type: "text/markdown", bytes: MARKDOWN },
      ],
      { collection: "manuals", metadata: JSON.stringify({ lang: "en" }) },
    );
    expect(response.status, await response.clone().text()).toBe(202);
    const accepted = await json<Accepted>(response);
    expect(accepted).toMatchObject({ accepted: 2, failed: [], status_url: `/v1/jobs/${accepted.job_id}` });
    expect(response.headers.get("location")).toBe(accepted.status_url);

    const job = await waitForJob(key, accepted.job_id);
    expect(job).toMatchObject({ status: "done", documents: 2, processed: 2, failed: 0 });

    // A file's document id is its file name, made an id; the document's text is its parsed text.
    const document = await json<{ id: string; collection: string; text: string; metadata: Record<string, unknown> }>(
      await call("/v1/documents/pump-manual.html", { auth: key }),
    );
    expect(document).toMatchObject({ id: "pump-manual.html", collection: "manuals", metadata: { lang: "en", title: "Pump Docs" } });
    expect(document.text).toContain(HTML_FACT);

    const chunks = await tenantSql<{ text: string; section: string | null; page: number | null }>(
      tenant,
      "SELECT text, section, page FROM chunks WHERE document_id = ?1",
      "pump-manual.html",
    );
    for (const noise of HTML_NOISE) for (const chunk of chunks) expect(chunk.text).not.toContain(noise);
    expect(chunks.find((chunk) => chunk.text.includes(HTML_FACT))).toMatchObject({
      section: "Pump manual › Maintenance › Valves",
      page: null,
    });

    const [htmlSource] = (await search(key, "kestrel valve kilopascals", "manuals")).filter((s) => s.document_id === "pump-manual.html");
    expect(htmlSource).toMatchObject({ section: "Pump manual › Maintenance › Valves" });
    expect(htmlSource).not.toHaveProperty("page");
    const [markdownSource] = (await search(key, "osprey batch Thursday", "manuals")).filter((s) => s.document_id === "shipping.md");
    expect(markdownSource?.text).toContain(MARKDOWN_FACT);
    expect(markdownSource?.section).toBe("Shipping › Batches");
  });

  it("answers from a PDF with the page its fact is on: the source says page 3", async () => {
    const { key } = await writer();
    const response = await upload(key, [{ name: "plant-report.pdf", type: "application/pdf", bytes: PDF }]);
    expect(response.status, await response.clone().text()).toBe(202);
    expect(await waitForJob(key, (await json<Accepted>(response)).job_id)).toMatchObject({ status: "done", processed: 1 });

    const answer = await call("/v1/query", { auth: key, body: { query: "What is the heron index of the Lisbon plant?", cache: false } });
    expect(answer.status).toBe(200);
    const { sources } = await json<{ sources: SourceBody[] }>(answer);
    const cited = sources.find((source) => source.text.includes(PDF_FACT));
    expect(cited).toMatchObject({ document_id: "plant-report.pdf", page: 3 });
    expect(cited).not.toHaveProperty("section");
    // The other pages are their own chunks, with their own pages.
    expect(sources.filter((source) => source.document_id === "plant-report.pdf").every((source) => source.page !== undefined)).toBe(true);
  });

  it("indexes a Word document by its headings (Setup › Upgrades)", async () => {
    const { key } = await writer();
    const response = await upload(key, [
      {
        name: "handbook.docx",
        type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        bytes: bytesOf(files.docx),
      },
    ]);
    expect(response.status, await response.clone().text()).toBe(202);
    expect(await waitForJob(key, (await json<Accepted>(response)).job_id)).toMatchObject({ status: "done" });
    const source = (await search(key, "zebra code")).find((s) => s.text.includes(DOCX_FACT));
    expect(source).toMatchObject({ document_id: "handbook.docx", section: "Setup › Upgrades" });
  });

  it("GET /v1/documents/{id}/file returns the original bytes with their content type, as an attachment, to a reader", async () => {
    const { tenant, key } = await writer();
    const response = await upload(key, [{ name: "plant-report.pdf", type: "application/pdf", bytes: PDF }], {
      metadata: JSON.stringify({ id: "report-2026" }),
    });
    expect(response.status).toBe(202);
    await waitForJob(key, (await json<Accepted>(response)).job_id);
    const { key: readerKey } = await createKey(tenant, ["reader"]);

    const file = await call("/v1/documents/report-2026/file", { auth: readerKey });
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("application/pdf");
    expect(file.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''plant-report.pdf");
    expect(file.headers.get("x-content-type-options")).toBe("nosniff");
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(PDF);
    // A part with no type of its own (curl -F file=@notes.md): stored as what the origin read it as.
    const untyped = await upload(key, [{ name: "notes.md", type: "", bytes: MARKDOWN }]);
    await waitForJob(key, (await json<Accepted>(untyped)).job_id);
    expect((await call("/v1/documents/notes.md/file", { auth: readerKey })).headers.get("content-type")).toBe("text/markdown");
    // metadata.id named the document; it is not stored as metadata.
    const document = await json<{ metadata: Record<string, unknown> }>(await call("/v1/documents/report-2026", { auth: readerKey }));
    expect(document.metadata).not.toHaveProperty("id");
    expect(document.metadata).toMatchObject({ title: "Plant Report" });
  });

  it("keeps one original per document: a new upload of it replaces the old bytes, an unchanged one keeps them", async () => {
    const { tenant, key } = await writer();
    const send = async (bytes: string) => {
      const response = await upload(key, [{ name: "notes.md", type: "text/markdown", bytes }]);
      expect(response.status).toBe(202);
      return waitForJob(key, (await json<Accepted>(response)).job_id);
    };
    await send(MARKDOWN);
    const [first] = await originals(tenant, "notes.md/");
    expect(await send(`${MARKDOWN}\nOne more line.\n`)).toMatchObject({ processed: 1 });
    const after = await originals(tenant, "notes.md/");
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(first);
    expect(await send(`${MARKDOWN}\nOne more line.\n`)).toMatchObject({ skipped: 1 });
    expect(await originals(tenant, "notes.md/")).toEqual(after);
    expect(await (await call("/v1/documents/notes.md/file", { auth: key })).text()).toContain("One more line.");
  });

  it("takes one metadata per file, in order: each names its own document and path (a JSON Lines file's goes under its lines')", async () => {
    const { key } = await writer("per-file");
    const response = await upload(key, [], { collection: "guides" }, (form) => {
      form.append("file", new File([MARKDOWN], "guides/shipping.md", { type: "text/markdown; charset=utf-8" }));
      form.append("metadata", JSON.stringify({ id: "guides_shipping.md", path: "guides/shipping.md" }));
      form.append("file", new File(["Plain notes about the warehouse."], "notes.txt", { type: "text/plain" }));
      form.append("metadata", JSON.stringify({ path: "notes.txt", lang: "en" }));
      form.append("file", new File([JSON.stringify({ id: "line-1", text: "A line.", metadata: { lang: "fr" } })], "c.jsonl"));
      form.append("metadata", JSON.stringify({ lang: "en", source: "corpus" }));
    });
    expect(response.status, await response.clone().text()).toBe(202);
    const accepted = await json<Accepted>(response);
    expect(accepted).toMatchObject({ accepted: 3, failed: [] });
    expect(await waitForJob(key, accepted.job_id)).toMatchObject({ status: "done", documents: 3 });
    const metadataOf = async (id: string) =>
      (await json<{ metadata: Record<string, unknown> }>(await call(`/v1/documents/${id}`, { auth: key }))).metadata;
    expect(await metadataOf("guides_shipping.md")).toEqual({ path: "guides/shipping.md", title: "Shipping" });
    expect(await metadataOf("notes.txt")).toEqual({ path: "notes.txt", lang: "en" });
    expect(await metadataOf("line-1")).toEqual({ lang: "fr", source: "corpus" });
    const source = (await search(key, "osprey batch", "guides")).find((s) => s.text.includes(MARKDOWN_FACT));
    expect(source).toMatchObject({ document_id: "guides_shipping.md", section: "Shipping › Batches" });
  });

  it("leaves JSON documents as they were: no page, no section, no file", async () => {
    const { key } = await writer();
    const { job_id } = await ingest(key, { documents: [{ id: "plain", text: `# Heading\n\n${MARKDOWN_FACT}` }] });
    await waitForJob(key, job_id);
    const [source] = await search(key, "osprey batch");
    expect(source).toMatchObject({ document_id: "plain" });
    expect(source).not.toHaveProperty("page");
    expect(source).not.toHaveProperty("section");
    expect((await call("/v1/documents/plain/file", { auth: key })).status).toBe(404);
  });
});

const gzip = async (text: string) =>
  new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());

describe("POST /v1/documents/files — JSON Lines (happy, error)", () => {
  const JSONL_FACT = "The puffin ledger closes on the ninth day.";
  const lines = [
    JSON.stringify({ id: "ledger", text: JSONL_FACT, metadata: { year: 2026 } }),
    "",
    JSON.stringify({ _id: "beir-1", title: "Tern counts", text: "Terns were counted at dawn." }),
    "{not json",
    JSON.stringify({ id: "no-text", title: "x" }),
    JSON.stringify({ id: "bad id!", text: "an id a document cannot have" }),
    JSON.stringify({ text: "A line without an id gets one from the API." }),
    JSON.stringify({ id: "ledger", text: "the same id again" }),
  ].join("\n");

  it("reads one document per line in the CLI's formats; a bad line fails its document alone, named by its line, in the job", async () => {
    const { tenant, key } = await writer("jsonl");
    const response = await upload(key, [{ name: "corpus.jsonl", type: "application/x-ndjson", bytes: lines }], {
      collection: "notes",
      metadata: JSON.stringify({ lang: "en" }),
    });
    expect(response.status, await response.clone().text()).toBe(202);
    const accepted = await json<Accepted>(response);
    expect(accepted.accepted).toBe(3);
    expect(Object.fromEntries(accepted.failed.map((failure) => [failure.document_id, failure.error]))).toEqual({
      "corpus.jsonl#4": "INVALID_LINE: line 4: not JSON",
      "corpus.jsonl#5": 'INVALID_LINE: line 5: needs a "text"',
      "corpus.jsonl#6": expect.stringMatching(/^INVALID_LINE: line 6: id: must match/),
      "corpus.jsonl#8": "INVALID_LINE: line 8: the document ledger is also corpus.jsonl, line 1 of this request",
    });
    const job = await waitForJob(key, accepted.job_id);
    expect(job).toMatchObject({ status: "failed", documents: 7, processed: 3, failed: 4 });
    expect(job.errors).toEqual(expect.arrayContaining(accepted.failed));
    // The job lists each document's outcome: the lines indexed, and each bad line under its own name.
    expect(job.outcomes).toHaveLength(7);
    expect(job.outcomes).toEqual(
      expect.arrayContaining([
        { document_id: "ledger", status: "done", chunks: 1 },
        { document_id: "beir-1", status: "done", chunks: 1 },
        { document_id: "corpus.jsonl#4", status: "failed", error: "INVALID_LINE: line 4: not JSON" },
      ]),
    );

    // Each line's document is a JSON document: the request's metadata under the line's own, no original, no page.
    const ledger = await json<{ collection: string; metadata: Record<string, unknown> }>(await call("/v1/documents/ledger", { auth: key }));
    expect(ledger).toMatchObject({ collection: "notes", metadata: { lang: "en", year: 2026 } });
    const beir = await json<{ text: string; metadata: Record<string, unknown> }>(await call("/v1/documents/beir-1", { auth: key }));
    expect(beir).toMatchObject({ text: "Tern counts\n\nTerns were counted at dawn.", metadata: { lang: "en", title: "Tern counts" } });
    expect((await call("/v1/documents/ledger/file", { auth: key })).status).toBe(404);
    expect(await originals(tenant)).toEqual([]);
    const [source] = await search(key, "puffin ledger ninth day", "notes");
    expect(source).toMatchObject({ document_id: "ledger" });
    expect(source).not.toHaveProperty("page");
  });

  it("knows JSON Lines by extension and reads gzipped ones; a gzip bomb fails its file at the size limit", async () => {
    const { key } = await writer("jsonl-gz");
    const bomb = await gzip(" ".repeat(FILE_LIMITS.maxJsonLinesBytes + 1));
    const response = await upload(key, [
      { name: "plain.jsonl", type: "application/octet-stream", bytes: JSON.stringify({ id: "plain", text: "Plain line." }) },
      { name: "packed.jsonl.gz", type: "application/gzip", bytes: await gzip(JSON.stringify({ id: "packed", text: "Packed line." })) },
      { name: "bomb.jsonl.gz", type: "application/gzip", bytes: bomb },
    ]);
    expect(response.status, await response.clone().text()).toBe(202);
    const accepted = await json<Accepted>(response);
    expect(accepted).toMatchObject({
      accepted: 2,
      failed: [{ document_id: "bomb.jsonl.gz", error: expect.stringMatching(/^ARCHIVE_TOO_LARGE: /) }],
    });
    expect(await waitForJob(key, accepted.job_id)).toMatchObject({ documents: 3, processed: 2, failed: 1 });
    expect((await call("/v1/documents/packed", { auth: key })).status).toBe(200);
  });

  it("refuses more documents than one request may hold (413), more JSON Lines text than POST /v1/documents takes (413) and a JSON Lines file with no lines (400), storing nothing", async () => {
    const { tenant, key } = await writer("jsonl-limits");
    const many = Array.from({ length: 1001 }, (_, i) => JSON.stringify({ id: `d${i}`, text: "x" })).join("\n");
    const tooMany = await upload(key, [{ name: "many.jsonl", type: "application/jsonl", bytes: many }]);
    expect(tooMany.status).toBe(413);
    expect(await json(tooMany)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", detail: expect.stringContaining("1001 documents") });
    // Text past what POST /v1/documents takes, over two parts: 413.
    const half = `${JSON.stringify({ text: "y".repeat(FILE_LIMITS.maxJsonLinesBytes / 2) })}\n`;
    const tooLong = await upload(key, [
      { name: "one.jsonl", type: "application/jsonl", bytes: half },
      { name: "two.jsonl", type: "application/jsonl", bytes: half },
    ]);
    expect(tooLong.status).toBe(413);
    expect(await json(tooLong)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", detail: expect.stringContaining("JSON Lines") });
    const blank = await upload(key, [{ name: "blank.jsonl", type: "application/jsonl", bytes: "\n\n" }]);
    expect(blank.status).toBe(400);
    expect((await json<{ detail: string }>(blank)).detail).toMatch(/blank\.jsonl has no lines/);
    expect(await jobCount(tenant)).toBe(0);
  });
});

describe("POST /v1/documents/files — bad files fail alone (error)", () => {
  it("a corrupt PDF, an encrypted PDF, a file that is not the type it claims and a lying archive each fail their document; the good file is indexed", async () => {
    const { tenant, key } = await writer();
    const response = await upload(key, [
      { name: "broken.pdf", type: "application/pdf", bytes: PDF.slice(0, 700) },
      { name: "locked.pdf", type: "application/pdf", bytes: bytesOf(files.encryptedPdf) },
      { name: "fake.pdf", type: "application/pdf", bytes: ARTICLE_HTML },
      {
        name: "bomb.docx",
        type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        bytes: bytesOf(files.lyingDocx),
      },
      { name: "good.html", type: "text/html", bytes: ARTICLE_HTML },
    ]);
    expect(response.status, await response.clone().text()).toBe(202);
    const accepted = await json<Accepted>(response);
    expect(accepted.accepted).toBe(1);
    const errors = Object.fromEntries(accepted.failed.map((failure) => [failure.document_id, failure.error]));
    expect(errors["broken.pdf"]).toMatch(/^FILE_CORRUPT: /);
    expect(errors["locked.pdf"]).toMatch(/^PDF_ENCRYPTED: /);
    expect(errors["fake.pdf"]).toMatch(/^FILE_TYPE_MISMATCH: /);
    expect(errors["bomb.docx"]).toMatch(/^FILE_CORRUPT: /);

    const job = await waitForJob(key, accepted.job_id);
    expect(job).toMatchObject({ status: "failed", documents: 5, processed: 1, failed: 4 });
    expect(job.errors).toEqual(expect.arrayContaining(accepted.failed.map(({ document_id, error }) => ({ document_id, error }))));
    expect((await search(key, "kestrel valve")).some((source) => source.document_id === "good.html")).toBe(true);
    // Nothing of a refused file is kept: no document, no original.
    for (const id of ["broken.pdf", "locked.pdf", "fake.pdf", "bomb.docx"]) {
      expect((await call(`/v1/documents/${id}`, { auth: key })).status).toBe(404);
      expect(await originals(tenant, `${id}/`)).toEqual([]);
    }
  });

  it("a request whose every file is refused answers 202 with a job failed at birth", async () => {
    const { key } = await writer();
    const response = await upload(key, [{ name: "scan.bin", type: "application/zip", bytes: "PK not really" }]);
    expect(response.status).toBe(202);
    const accepted = await json<Accepted>(response);
    expect(accepted).toMatchObject({
      accepted: 0,
      failed: [{ document_id: "scan.bin", error: expect.stringMatching(/^UNSUPPORTED_MEDIA_TYPE: /) }],
    });
    const job = await json<JobBody>(await call(accepted.status_url, { auth: key }));
    expect(job).toMatchObject({ status: "failed", documents: 1, failed: 1 });
  });
});

describe("POST /v1/documents/files — refused requests change nothing (error, security)", () => {
  it("answers 413 for a file over the per-file limit", async () => {
    const { tenant, key } = await writer();
    const response = await upload(key, [
      { name: "big.txt", type: "text/plain", bytes: new Uint8Array(FILE_LIMITS.maxFileBytes + 1).fill(97) },
    ]);
    expect(response.status).toBe(413);
    expect(await json(response)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", detail: expect.stringContaining("big.txt") });
    expect(await jobCount(tenant)).toBe(0);
    expect(await originals(tenant)).toEqual([]);
  });

  it("answers 413 for a request over the per-request limit", async () => {
    const { tenant, key } = await writer();
    const half = new Uint8Array(FILE_LIMITS.maxRequestBytes / 2 + 1024).fill(98);
    const response = await upload(key, [
      { name: "a.txt", type: "text/plain", bytes: half },
      { name: "b.txt", type: "text/plain", bytes: half },
    ]);
    expect(response.status).toBe(413);
    expect(await json(response)).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(await jobCount(tenant)).toBe(0);
  });

  const cases: Array<[string, (key: string) => Promise<Response>, number, RegExp]> = [
    ["a JSON body", (key) => Promise.resolve(call("/v1/documents/files", { auth: key, body: { file: "x" } })), 415, /multipart\/form-data/],
    ["no file part", (key) => upload(key, [], { collection: "c" }), 400, /file: at least one file/],
    [
      "a file field that is text",
      (key) => upload(key, [], {}, (form) => form.append("file", "just text")),
      400,
      /file: must be a file part/,
    ],
    [
      "an unknown field",
      (key) => upload(key, [{ name: "a.md", type: "text/markdown", bytes: MARKDOWN }], { colection: "typo" }),
      400,
      /colection/,
    ],
    [
      "metadata that is not JSON",
      (key) => upload(key, [{ name: "a.md", type: "text/markdown", bytes: MARKDOWN }], { metadata: "{" }),
      400,
      /metadata/,
    ],
    [
      "a nested metadata value",
      (key) => upload(key, [{ name: "a.md", type: "text/markdown", bytes: MARKDOWN }], { metadata: '{"a":{"b":1}}' }),
      400,
      /metadata\.a/,
    ],
    [
      "metadata.id with two files",
      (key) =>
        upload(
          key,
          [
            { name: "a.md", type: "text/markdown", bytes: MARKDOWN },
            { name: "b.md", type: "text/markdown", bytes: MARKDOWN },
          ],
          { metadata: '{"id":"one"}' },
        ),
      400,
      /metadata\.id: names one document/,
    ],
    [
      "metadata neither once nor once per file",
      (key) =>
        upload(
          key,
          [
            { name: "a.md", type: "text/markdown", bytes: MARKDOWN },
            { name: "b.md", type: "text/markdown", bytes: MARKDOWN },
          ],
          {},
          (form) => {
            for (let i = 0; i < 3; i++) form.append("metadata", "{}");
          },
        ),
      400,
      /metadata: give it once \(every file's\) or once per file, in order \(2\), not 3 times/,
    ],
    [
      "a per-file metadata.id for a JSON Lines file, or one another file's names",
      (key) =>
        upload(
          key,
          [
            { name: "a.md", type: "text/markdown", bytes: MARKDOWN },
            { name: "b.jsonl", type: "application/jsonl", bytes: '{"id":"x","text":"y"}' },
            { name: "c.md", type: "text/markdown", bytes: MARKDOWN },
          ],
          {},
          (form) => {
            for (const id of ["same", "lines", "same"]) form.append("metadata", JSON.stringify({ id }));
          },
        ),
      400,
      /metadata\.1\.id: names one document: a JSON Lines file's.*c\.md is the document same again/s,
    ],
    [
      "two files of the same name",
      (key) =>
        upload(key, [
          { name: "a.md", type: "text/markdown", bytes: MARKDOWN },
          { name: "a.md", type: "text/markdown", bytes: MARKDOWN },
        ]),
      400,
      /the document a\.md again/,
    ],
    [
      "a file name that makes no id",
      (key) => upload(key, [{ name: "…", type: "text/markdown", bytes: MARKDOWN }]),
      400,
      /makes no document id/,
    ],
    ["an empty file", (key) => upload(key, [{ name: "empty.md", type: "text/markdown", bytes: "" }]), 400, /empty\.md is empty/],
    [
      "a bad collection",
      (key) => upload(key, [{ name: "a.md", type: "text/markdown", bytes: MARKDOWN }], { collection: "Bad" }),
      400,
      /collection/,
    ],
    [
      `more than ${FILE_LIMITS.maxFiles} files`,
      (key) =>
        upload(
          key,
          Array.from({ length: FILE_LIMITS.maxFiles + 1 }, (_, i) => ({ name: `f${i}.md`, type: "text/markdown", bytes: MARKDOWN })),
        ),
      400,
      /at most 20 files/,
    ],
  ];
  for (const [name, send, status, detail] of cases) {
    it(`refuses ${name} with ${status}, storing nothing`, async () => {
      const { tenant, key } = await writer();
      const response = await send(key);
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect((await json<{ detail: string }>(response)).detail).toMatch(detail);
      expect(await jobCount(tenant)).toBe(0);
      expect(await originals(tenant)).toEqual([]);
    });
  }

  it("answers 503 when no origin can parse, storing nothing: nothing was accepted, so nothing is lost (retry)", async () => {
    const { tenant, key } = await writer();
    const form = new FormData();
    form.append("file", new File([MARKDOWN], "notes.md", { type: "text/markdown" }));
    const response = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/documents/files", { auth: key, body: form });
    expect(response.status).toBe(503);
    expect(await json(response)).toMatchObject({ code: "ORIGIN_UNAVAILABLE" });
    expect(response.headers.get("retry-after")).toBeTruthy();
    expect(await jobCount(tenant)).toBe(0);
    expect(await originals(tenant)).toEqual([]);
  });

  it("is for writers: a reader gets 403", async () => {
    const tenant = uniqueTenant("files-reader");
    const { key } = await createKey(tenant, ["reader"]);
    const response = await upload(key, [{ name: "a.md", type: "text/markdown", bytes: MARKDOWN }]);
    expect(response.status).toBe(403);
    expect(await originals(tenant)).toEqual([]);
  });
});

describe("originals: tenant isolation and deletion (security)", () => {
  it("another tenant's reader gets 404 for a file, and its keys live under the owner's prefix only", async () => {
    const { tenant, key } = await writer();
    const response = await upload(key, [{ name: "secret.md", type: "text/markdown", bytes: MARKDOWN }]);
    await waitForJob(key, (await json<Accepted>(response)).job_id);
    expect(await originals(tenant, "secret.md/")).toHaveLength(1);
    const { key: stranger } = await createKey(uniqueTenant("stranger"), ["reader", "writer", "admin"]);
    const denied = await call("/v1/documents/secret.md/file", { auth: stranger });
    expect(denied.status).toBe(404);
    expect((await call("/v1/documents/secret.md/file", { auth: key })).status).toBe(200);
  });

  it("DELETE /v1/documents/{id} deletes its original; deleting the tenant deletes the rest", async () => {
    const { tenant, key } = await writer();
    const response = await upload(key, [
      { name: "one.md", type: "text/markdown", bytes: MARKDOWN },
      { name: "two.html", type: "text/html", bytes: ARTICLE_HTML },
    ]);
    await waitForJob(key, (await json<Accepted>(response)).job_id);
    expect(await originals(tenant)).toHaveLength(2);

    expect((await call("/v1/documents/one.md", { auth: key, method: "DELETE" })).status).toBe(204);
    expect(await originals(tenant, "one.md/")).toEqual([]);
    expect((await call("/v1/documents/one.md/file", { auth: key })).status).toBe(404);
    expect(await originals(tenant, "two.html/")).toHaveLength(1);

    const deletion = await localServices(env).tenantAdmin.delete(tenant);
    expect(deletion).toMatchObject({ tenant, documents: 1, files: 1 });
    expect(await originals(tenant)).toEqual([]);
  });
});

describe("POST /v1/documents/reindex: indexing again from what is stored, with no upload", () => {
  interface Reindexed extends Accepted {
    next_cursor: string | null;
  }
  const reindex = (key: string, body: Record<string, unknown> = {}) => call("/v1/documents/reindex", { auth: key, body });
  const versions = (tenant: string) =>
    tenantSql<{ id: string; revision: string; content_hash: string; file_key: string | null }>(
      tenant,
      "SELECT id, revision, content_hash, file_key FROM documents ORDER BY id",
    );
  const chunkIds = async (tenant: string) =>
    (await tenantSql<{ id: string }>(tenant, "SELECT id FROM chunks ORDER BY id")).map((c) => c.id);

  it("rebuilds every document's chunks, a file's from its original through the parser, a text's from its text; queries still cite page 3 (happy)", async () => {
    const tenant = uniqueTenant("reindex");
    const { key } = await createKey(tenant, ["writer", "admin"]);
    const response = await upload(key, [{ name: "plant-report.pdf", type: "application/pdf", bytes: PDF }]);
    await waitForJob(key, (await json<Accepted>(response)).job_id);
    await waitForJob(key, (await ingest(key, { documents: [{ id: "plain", text: MARKDOWN_FACT }] })).job_id);
    const before = await versions(tenant);
    const chunksBefore = await chunkIds(tenant);
    const filesBefore = await originals(tenant);

    const answer = await reindex(key);
    expect(answer.status, await answer.clone().text()).toBe(202);
    const accepted = await json<Reindexed>(answer);
    expect(accepted).toMatchObject({ accepted: 2, failed: [], next_cursor: null, status_url: `/v1/jobs/${accepted.job_id}` });
    const job = await waitForJob(key, accepted.job_id);
    // Nothing changed, and yet each document was indexed again: the job lists each one done, with its chunks.
    expect(job).toMatchObject({ status: "done", documents: 2, processed: 2, skipped: 0 });
    expect(job.outcomes).toEqual([
      { document_id: "plain", status: "done", chunks: 1 },
      { document_id: "plant-report.pdf", status: "done", chunks: expect.any(Number) },
    ]);

    const after = await versions(tenant);
    expect(after.map(({ id, content_hash, file_key }) => ({ id, content_hash, file_key }))).toEqual(
      before.map(({ id, content_hash, file_key }) => ({ id, content_hash, file_key })),
    );
    for (const [i, version] of after.entries()) expect(version.revision).not.toBe(before[i]!.revision);
    const chunksAfter = await chunkIds(tenant);
    expect(chunksAfter).toHaveLength(chunksBefore.length);
    expect(chunksAfter.filter((id) => chunksBefore.includes(id))).toEqual([]);
    expect(await originals(tenant)).toEqual(filesBefore);

    const query = await call("/v1/query", { auth: key, body: { query: "What is the heron index of the Lisbon plant?", cache: false } });
    const { sources } = await json<{ sources: SourceBody[] }>(query);
    expect(sources.find((source) => source.text.includes(PDF_FACT))).toMatchObject({ document_id: "plant-report.pdf", page: 3 });
  });

  it("pages through a collection with next_cursor; named ids it does not have fail alone (NOT_FOUND)", async () => {
    const tenant = uniqueTenant("reindex-pages");
    const { key } = await createKey(tenant, ["writer", "admin"]);
    const { job_id } = await ingest(key, {
      collection: "notes",
      documents: [
        { id: "a", text: "Alpha." },
        { id: "b", text: "Beta." },
      ],
    });
    await waitForJob(key, job_id);
    await waitForJob(key, (await ingest(key, { documents: [{ id: "elsewhere", text: "Gamma." }] })).job_id);

    const first = await json<Reindexed>(await reindex(key, { collection: "notes", limit: 1 }));
    expect(first).toMatchObject({ accepted: 1, next_cursor: expect.any(String) });
    const second = await json<Reindexed>(await reindex(key, { collection: "notes", limit: 1, cursor: first.next_cursor }));
    expect(second).toMatchObject({ accepted: 1, next_cursor: null });
    expect((await waitForJob(key, first.job_id)).outcomes).toEqual([{ document_id: "a", status: "done", chunks: 1 }]);
    expect((await waitForJob(key, second.job_id)).outcomes).toEqual([{ document_id: "b", status: "done", chunks: 1 }]);

    const named = await json<Reindexed>(await reindex(key, { ids: ["elsewhere", "ghost", "ghost"] }));
    expect(named).toMatchObject({ accepted: 1, failed: [{ document_id: "ghost", error: "NOT_FOUND: no such document" }] });
    expect(await waitForJob(key, named.job_id)).toMatchObject({ status: "failed", processed: 1, failed: 1 });
  });

  it("is for admins: a reader and a writer get 403; a bad request is a 400; no origin to parse is a 503, changing nothing (security, error)", async () => {
    const tenant = uniqueTenant("reindex-auth");
    const { key } = await createKey(tenant, ["writer", "admin"]);
    const response = await upload(key, [{ name: "notes.md", type: "text/markdown", bytes: MARKDOWN }]);
    await waitForJob(key, (await json<Accepted>(response)).job_id);
    const before = await versions(tenant);
    for (const role of ["reader", "writer"] as const) {
      const { key: other } = await createKey(tenant, [role]);
      expect((await reindex(other)).status).toBe(403);
    }
    for (const body of [{ ids: [] }, { ids: ["a"], collection: "x" }, { cursor: "nope!" }, { limit: 101 }, { colection: "typo" }])
      expect((await reindex(key, body)).status, JSON.stringify(body)).toBe(400);
    const down = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/documents/reindex", { auth: key, body: {} });
    expect(down.status).toBe(503);
    expect(await versions(tenant)).toEqual(before);
    expect(await jobCount(tenant)).toBe(1);
  });
});

describe("documentIdOf (unit)", () => {
  it("makes a file name an id: runs of other characters become '-', folders and leading marks go", () => {
    expect(documentIdOf("Q3 report (final).pdf")).toBe("Q3-report-final-.pdf");
    expect(documentIdOf("C:\\docs\\notes.md")).toBe("notes.md");
    expect(documentIdOf("../../etc/passwd")).toBe("passwd");
    expect(documentIdOf("—élan.md")).toBe("lan.md");
    expect(documentIdOf("…")).toBeNull();
    expect(documentIdOf("x".repeat(300))).toHaveLength(128);
  });
});
