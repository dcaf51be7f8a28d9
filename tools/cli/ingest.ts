import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { extname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { fileDocument, jsonLineDocument, type SourceDocument, sourceDocumentId } from "../../src/ingest/source-files";
import { ApiFailure, connectionOf, EXIT, exitCodeOf } from "./api";
import { UsageError } from "./usage-error";

/**
 * Bulk ingestion through the public API: POST /v1/documents in batches (text), POST
 * /v1/documents/files one file a request (PDF, HTML, DOCX: the worker parses them, each chunk
 * keeps its page or section), then wait for every job.
 * Resumable: a state file remembers which batches were accepted, so a rerun after a crash or
 * Ctrl-C sends only the rest (re-sending is harmless anyway: unchanged documents are no-ops).
 */
export interface IngestOptions {
  url: string;
  key: string;
  collection?: string;
  batchSize?: number;
  restart?: boolean;
  stateDir?: string;
  /** Progress lines go here (default: stderr with a redrawn bar). */
  progress?: (text: string) => void;
}

export interface IngestSummary {
  documents: number;
  batches: number;
  jobs: string[];
  failed: Array<{ document_id: string; error: string }>;
  seconds: number;
}

type Values = Record<string, string | boolean | undefined>;

export async function ingestCommand(positionals: string[], values: Values): Promise<void> {
  const [source] = positionals;
  if (!source) throw new UsageError("ingest needs a .jsonl file or a folder");
  // EDGE_RAG_KEY keeps the key out of the process list and shell history.
  const { url, key } = connectionOf(values);
  const batchSize = typeof values["batch-size"] === "string" ? Number(values["batch-size"]) : undefined;
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= 1000))
    throw new UsageError("--batch-size is 1..1000");
  const summary = await ingest(source, {
    url,
    key,
    collection: typeof values.collection === "string" ? values.collection : undefined,
    batchSize,
    restart: values.restart === true,
  });
  console.log(JSON.stringify(summary));
  if (summary.failed.length > 0) {
    console.error(`${summary.failed.length} document(s) failed:`);
    for (const failure of summary.failed.slice(0, 20)) console.error(`  ${failure.document_id}: ${failure.error}`);
    process.exitCode = EXIT.partial;
  }
}

/** The files sent as they are, for the worker to parse (POST /v1/documents/files), by extension. */
export const UPLOADED_TYPES: Record<string, string> = {
  ".pdf": "application/pdf",
  ".html": "text/html",
  ".htm": "text/html",
  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
};

const isUploaded = (file: string) => extname(file).toLowerCase() in UPLOADED_TYPES;

/** A file to upload: its path, and its path relative to the source (its id and `metadata.path`). */
export interface UploadedFile {
  path: string;
  relative: string;
}

/** The PDF, HTML and DOCX files of a folder (or the source itself, when it is one). */
export function* uploadedFiles(source: string): Generator<UploadedFile> {
  const path = resolve(source);
  if (!existsSync(path)) throw new UsageError(`${source} does not exist`);
  if (!statSync(path).isDirectory()) {
    if (isUploaded(path)) yield { path, relative: relative(join(path, ".."), path) };
    return;
  }
  for (const file of walk(path)) if (isUploaded(file)) yield { path: file, relative: relative(path, file) };
}

/**
 * Reads .jsonl / .jsonl.gz ({id,text,metadata} or BEIR {_id,title,text}) or a folder of .txt/.md
 * (each file's relative path as its id and `metadata.path`; a Markdown file read by `readMarkdown`).
 */
export async function* readDocuments(source: string): AsyncGenerator<SourceDocument> {
  const path = resolve(source);
  if (!existsSync(path)) throw new UsageError(`${source} does not exist`);
  if (!statSync(path).isDirectory() && isUploaded(path)) return;
  if (statSync(path).isDirectory()) {
    for (const file of walk(path)) {
      if (![".txt", ".md"].includes(extname(file).toLowerCase())) continue;
      const document = fileDocument(relative(path, file), readFileSync(file, "utf8"), { path: relative(path, file) });
      if (document.text.trim()) yield document;
    }
    return;
  }
  const input = path.endsWith(".gz") ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
  let lineNumber = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNumber += 1;
    if (!line.trim()) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UsageError(`${source}:${lineNumber} is not JSON`);
    }
    const document = jsonLineDocument(record);
    if (typeof document === "string" || !document.id) throw new UsageError(`${source}:${lineNumber} needs an id (or _id) and a text`);
    yield { ...document, id: document.id };
  }
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
  }
}

const MAX_BATCH_BYTES = 8 * 1024 * 1024; // under the API's 10 MiB body limit

export async function ingest(source: string, options: IngestOptions): Promise<IngestSummary> {
  const started = Date.now();
  const batchSize = options.batchSize ?? 100;
  const progress = options.progress ?? drawProgress;
  const stateDir = options.stateDir ?? join(process.cwd(), ".edge-rag-ingest");
  const stateFile = join(
    stateDir,
    `${createHash("sha256")
      .update(`${options.url}\0${resolve(source)}`)
      .digest("hex")
      .slice(0, 16)}.json`,
  );
  // Batches are remembered by a hash of their content, so an edited source never has a changed
  // batch skipped as "already sent".
  const state: { accepted: string[]; jobs: string[] } =
    !options.restart && existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : { accepted: [], jobs: [] };
  const accepted = new Set(state.accepted);
  const save = () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(stateFile, JSON.stringify({ accepted: [...accepted], jobs: state.jobs }));
  };

  let documents = 0;
  let batchIndex = 0;
  let batch: SourceDocument[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    batchIndex += 1;
    const digest = createHash("sha256")
      .update(JSON.stringify([options.collection ?? null, batch]))
      .digest("hex");
    if (!accepted.has(digest)) {
      const jobId = await postBatch(options, batch);
      state.jobs.push(jobId);
      accepted.add(digest);
      save();
    }
    documents += batch.length;
    progress(`sent ${documents} documents in ${batchIndex} batches`);
    batch = [];
    batchBytes = 0;
  };
  for await (const document of readDocuments(source)) {
    const bytes = Buffer.byteLength(JSON.stringify(document));
    if (batch.length >= batchSize || batchBytes + bytes > MAX_BATCH_BYTES) await flush();
    batch.push(document);
    batchBytes += bytes;
  }
  await flush();

  // Files the worker parses, one a request (each up to the API's per-file limit), remembered by their content.
  let files = 0;
  for (const file of uploadedFiles(source)) {
    const bytes = readFileSync(file.path);
    const digest = createHash("sha256")
      .update(JSON.stringify([options.collection ?? null, file.relative]))
      .update(bytes)
      .digest("hex");
    if (!accepted.has(digest)) {
      state.jobs.push(await postFile(options, file, bytes));
      accepted.add(digest);
      save();
    }
    files += 1;
    documents += 1;
    progress(`sent ${documents} documents (${files} files)`);
  }

  const failed = await waitForJobs(options, state.jobs, progress);
  progress(`done: ${documents} documents, ${state.jobs.length} jobs, ${failed.length} failed\n`);
  return { documents, batches: batchIndex, jobs: state.jobs, failed, seconds: (Date.now() - started) / 1000 };
}

async function request(options: IngestOptions, path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    let response: Response | undefined;
    try {
      response = await fetch(new URL(path, options.url), {
        ...init,
        // A form sets its own multipart content type (with its boundary).
        headers: {
          authorization: `Bearer ${options.key}`,
          ...(init.body instanceof FormData ? {} : { "content-type": "application/json" }),
          ...init.headers,
        },
        signal: AbortSignal.timeout(120_000),
      });
    } catch (error) {
      if (attempt >= 6) throw error;
    }
    if (response && response.status !== 429 && response.status < 500) return response;
    if (response && attempt >= 6) return response;
    const retryAfter = Number(response?.headers.get("retry-after") ?? 0);
    await response?.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Math.max(retryAfter * 1000, 250 * 2 ** attempt)));
  }
}

/** One file through POST /v1/documents/files: its relative path as its id (as a text file's) and `metadata.path`. */
async function postFile(options: IngestOptions, file: UploadedFile, bytes: Buffer): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob([bytes], { type: UPLOADED_TYPES[extname(file.path).toLowerCase()] }), file.relative);
  form.append("metadata", JSON.stringify({ id: sourceDocumentId(file.relative), path: file.relative }));
  if (options.collection) form.append("collection", options.collection);
  const response = await request(options, "/v1/documents/files", { method: "POST", body: form });
  const body = (await response.json().catch(() => ({}))) as { job_id?: string; detail?: string; code?: string };
  if (response.status !== 202 || !body.job_id)
    throw new ApiFailure(
      `POST /v1/documents/files (${file.relative}) answered ${response.status} ${body.code ?? ""}: ${body.detail ?? ""}`,
      response.ok ? EXIT.error : exitCodeOf(response.status),
      response.status,
    );
  return body.job_id;
}

async function postBatch(options: IngestOptions, documents: SourceDocument[]): Promise<string> {
  const response = await request(options, "/v1/documents", {
    method: "POST",
    body: JSON.stringify({ documents, ...(options.collection ? { collection: options.collection } : {}) }),
  });
  const body = (await response.json().catch(() => ({}))) as { job_id?: string; detail?: string; code?: string };
  if (response.status !== 202 || !body.job_id)
    throw new ApiFailure(
      `POST /v1/documents answered ${response.status} ${body.code ?? ""}: ${body.detail ?? ""}`,
      response.ok ? EXIT.error : exitCodeOf(response.status),
      response.status,
    );
  return body.job_id;
}

async function waitForJobs(options: IngestOptions, jobs: string[], progress: (text: string) => void) {
  const failed: IngestSummary["failed"] = [];
  const pending = new Set(jobs);
  let finished = 0;
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const response = await request(options, `/v1/jobs/${encodeURIComponent(id)}`);
      if (response.status === 404) {
        await response.body?.cancel();
        pending.delete(id); // e.g. a state file from another database
        continue;
      }
      if (!response.ok)
        throw new ApiFailure(
          `GET /v1/jobs/${id} answered ${response.status}: ${(await response.text()).slice(0, 200)}`,
          exitCodeOf(response.status),
          response.status,
        );
      const job = (await response.json()) as { status: string; errors?: Array<{ document_id: string; error: string }> };
      if (job.status === "done" || job.status === "failed") {
        pending.delete(id);
        finished += 1;
        failed.push(...(job.errors ?? []));
      }
    }
    progress(`indexing: ${finished}/${jobs.length} jobs finished`);
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return failed;
}

function drawProgress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}`);
  else process.stderr.write(`${text.trimEnd()}\n`);
}
