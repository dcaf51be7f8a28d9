import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ingest, sourceLine } from "../../tools/cli/ingest";
import { UsageError } from "../../tools/cli/usage-error";

/**
 * `edge-rag ingest` in process, against a fake API (fetch stubbed): what it sends to
 * POST /v1/documents/files (which files share a request, each file's own metadata: its id and path),
 * what it remembers for a rerun, and how it reports failures. test/e2e/cli.e2e.test.ts runs it
 * against the real stack.
 */
interface Sent {
  files: Array<{ name: string; type: string; text: string }>;
  metadata: unknown[];
  collection: string | null;
}

let dir: string;
let sent: Sent[];
/** Each job's errors, as GET /v1/jobs/{id} lists them. */
let errors: Record<string, Array<{ document_id: string; error: string }>>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-rag-ingest-unit-"));
  sent = [];
  errors = {};
  vi.stubGlobal("fetch", async (input: URL | string, init: RequestInit = {}) => {
    const url = new URL(String(input));
    if (url.pathname === "/v1/documents/files") {
      const form = init.body as FormData;
      const files = await Promise.all(
        form
          .getAll("file")
          .map(async (part) => ({ name: (part as File).name, type: (part as File).type, text: await (part as File).text() })),
      );
      sent.push({
        files,
        metadata: form.getAll("metadata").map((raw) => JSON.parse(String(raw))),
        collection: form.get("collection") as string | null,
      });
      return Response.json({ job_id: `job_${sent.length}`, accepted: files.length, failed: [], status_url: "" }, { status: 202 });
    }
    const job = /^\/v1\/jobs\/(.+)$/.exec(url.pathname)?.[1];
    if (job) return Response.json({ id: job, status: "done", errors: errors[job] ?? [] });
    return new Response("not found", { status: 404 });
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
  rmSync(dir, { recursive: true, force: true });
});

const run = (source: string, options: { batchSize?: number; restart?: boolean; collection?: string } = {}) =>
  ingest(source, { url: "http://api.test", key: "k", stateDir: join(dir, "state"), progress: () => {}, ...options });

describe("edge-rag ingest (unit, fake API)", () => {
  it("sends a folder's files several to a request, each with its own id and path; a rerun sends nothing", async () => {
    const folder = join(dir, "docs");
    mkdirSync(join(folder, "guides"), { recursive: true });
    writeFileSync(join(folder, "guides", "install.md"), "# Install\n\n## Upgrades\n\nRun the upgrade.\n");
    writeFileSync(join(folder, "notes.txt"), "Plain notes.");
    writeFileSync(join(folder, "report.pdf"), "%PDF-1.7 (the worker parses it)");
    writeFileSync(join(folder, "blank.md"), "---\ntitle: Only front matter\n---\n  \n");
    writeFileSync(join(folder, "ignored.json"), "{}");
    writeFileSync(join(folder, "huge.pdf"), "");
    truncateSync(join(folder, "huge.pdf"), 26 * 1024 * 1024);

    const summary = await run(folder, { collection: "handbook" });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.collection).toBe("handbook");
    expect(sent[0]!.files.map(({ name, type }) => ({ name, type }))).toEqual([
      { name: "guides/install.md", type: "text/markdown; charset=utf-8" },
      { name: "notes.txt", type: "text/plain; charset=utf-8" },
      { name: "report.pdf", type: "application/pdf" },
    ]);
    // The Markdown goes as it is (the origin parses its headings), front matter and all.
    expect(sent[0]!.files[0]!.text).toBe("# Install\n\n## Upgrades\n\nRun the upgrade.\n");
    // One metadata part per file, in order: the ids and paths of before.
    expect(sent[0]!.metadata).toEqual([
      { id: "guides_install.md", path: "guides/install.md" },
      { id: "notes.txt", path: "notes.txt" },
      { id: "report.pdf", path: "report.pdf" },
    ]);
    expect(summary).toMatchObject({
      documents: 3,
      batches: 1,
      jobs: ["job_1"],
      failed: [{ document_id: "huge.pdf", error: expect.stringMatching(/^PAYLOAD_TOO_LARGE: .*at most 25 MiB/) }],
    });

    // A rerun finds the request accepted; a changed file is sent again.
    expect(await run(folder, { collection: "handbook" })).toMatchObject({ documents: 3, batches: 1, jobs: ["job_1"] });
    expect(sent).toHaveLength(1);
    writeFileSync(join(folder, "notes.txt"), "Plain notes, edited.");
    expect(await run(folder, { collection: "handbook" })).toMatchObject({ jobs: ["job_1", "job_2"] });
    expect(sent).toHaveLength(2);
    // --restart forgets what was sent.
    expect(await run(folder, { collection: "handbook", restart: true })).toMatchObject({ jobs: ["job_3"] });
  });

  it("splits a folder's requests by --batch-size; a lone file's id is its name", async () => {
    const folder = join(dir, "many");
    mkdirSync(folder);
    for (let i = 0; i < 25; i++) writeFileSync(join(folder, `n${String(i).padStart(2, "0")}.md`), `# Note ${i}\n\nText ${i}.\n`);
    expect(await run(folder)).toMatchObject({ documents: 25, batches: 2 });
    // At most 20 files a request, the route's limit.
    expect(sent.map((request) => request.files.length)).toEqual([20, 5]);
    sent = [];
    await run(folder, { batchSize: 10, restart: true });
    expect(sent.map((request) => request.files.length)).toEqual([10, 10, 5]);
    sent = [];
    await run(join(folder, "n07.md"));
    expect(sent).toEqual([
      {
        files: [{ name: "n07.md", type: "text/markdown; charset=utf-8", text: "# Note 7\n\nText 7.\n" }],
        metadata: [{ id: "n07.md", path: "n07.md" }],
        collection: null,
      },
    ]);
  });

  it("sends a JSON Lines file (gzipped or not) as JSON Lines parts of --batch-size lines, and names a refused line by its line in the file", async () => {
    const lines = [
      JSON.stringify({ id: "a", text: "one" }),
      "",
      JSON.stringify({ _id: "b", title: "Two", text: "two" }),
      JSON.stringify({ id: "c", text: "three", metadata: { nested: { no: 1 } } }),
      JSON.stringify({ id: "d", text: "four" }),
    ];
    const file = join(dir, "corpus.jsonl.gz");
    writeFileSync(file, gzipSync(`${lines.join("\n")}\n`));
    // The API names the part's line 1 (the file's line 4) as refused.
    errors.job_2 = [{ document_id: "corpus.jsonl#1", error: "INVALID_LINE: line 1: metadata.nested: values must be strings" }];
    const summary = await run(file, { batchSize: 2 });
    expect(sent.map((request) => request.files)).toEqual([
      [{ name: "corpus.jsonl", type: "application/jsonl", text: `${lines[0]}\n\n${lines[2]}` }],
      [{ name: "corpus.jsonl", type: "application/jsonl", text: `${lines[3]}\n${lines[4]}` }],
    ]);
    expect(sent.every((request) => request.metadata.length === 0)).toBe(true);
    expect(summary).toMatchObject({
      documents: 4,
      batches: 2,
      failed: [{ document_id: "corpus.jsonl.gz#4", error: "INVALID_LINE: line 4: metadata.nested: values must be strings" }],
    });
    // A rerun sends nothing, and still names the line (the state file keeps where each part began).
    expect(await run(file, { batchSize: 2 })).toMatchObject({ failed: [{ document_id: "corpus.jsonl.gz#4" }] });
    expect(sent).toHaveLength(2);
  });

  it("refuses a JSON Lines line it cannot send as a document of its own (usage error, as before)", async () => {
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, `${JSON.stringify({ id: "a", text: "one" })}\n${JSON.stringify({ text: "no id" })}\n`);
    await expect(run(file)).rejects.toThrow(new UsageError(`${file}:2 needs an id (or _id) and a text`));
    writeFileSync(file, "{not json\n");
    await expect(run(file)).rejects.toThrow(/bad\.jsonl:1 is not JSON/);
    await expect(run(join(dir, "missing"))).rejects.toThrow(/does not exist/);
  });

  it("maps a part's line back to the file's; other failures pass as they are", () => {
    expect(sourceLine({ document_id: "c.jsonl#3", error: "INVALID_LINE: line 3: not JSON" }, "c.jsonl", 1000)).toEqual({
      document_id: "c.jsonl#1003",
      error: "INVALID_LINE: line 1003: not JSON",
    });
    const failure = { document_id: "report.pdf", error: "PDF_ENCRYPTED: the PDF needs a password to open" };
    expect(sourceLine(failure, "c.jsonl", 1000)).toBe(failure);
  });
});
