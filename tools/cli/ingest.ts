import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, extname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { fileDocument, jsonLineDocument, sourceDocumentId } from "../../src/ingest/source-files";
import { filePiece, lineRuns, type Piece, requests, UnsendableLine } from "../../src/ingest/upload-plan";
import { ApiFailure, connectionOf, EXIT, exitCodeOf } from "./api";
import { UsageError } from "./usage-error";

/**
 * Bulk ingestion through the public API's POST /v1/documents/files, then waiting for every job.
 * - A folder (or one file) of .md/.txt/.pdf/.html/.htm/.docx: each file one document, sent as it
 *   is for the worker to parse at the origin (Markdown, HTML and DOCX by headings, so each chunk
 *   keeps its `section`; PDF page by page, its `page`; a Markdown file's front matter is not text,
 *   its `title:` or first `# heading` is `metadata.title`). Several files go in one request, within
 *   the route's limits as src/ingest/upload-plan.ts plans them (the console's upload plans the
 *   same way), each file with its own `metadata` part: its id and `metadata.path` are its path
 *   relative to the source (`guides/install.md` → id `guides_install.md`, `sourceDocumentId`).
 *   A blank .md/.txt file is skipped; an empty or too large file fails alone, listed with the rest.
 * - Any other file: JSON Lines (.jsonl, or .jsonl.gz inflated here), `{"id","text","metadata"}` or
 *   BEIR's `{"_id","title","text"}`. Each line is checked here (JSON, an id, a text: a usage error
 *   otherwise, as an id the API made up would change on every run), then sent as JSON Lines parts
 *   of --batch-size lines (at most 9.5 MiB), the worker reading them as it reads POST /v1/documents.
 *   A line the API refuses fails alone; it is listed as `<file>#<line>`, its line in the source.
 * Resumable: a state file remembers which requests were accepted (by a hash of what they sent), so
 * a rerun after a crash or Ctrl-C sends only the rest; re-sending is harmless anyway (an unchanged
 * document is a no-op). `--restart` forgets it.
 */
export interface IngestOptions {
  url: string;
  key: string;
  collection?: string;
  /** Documents a request holds at most (1..1000, default 100; a request also holds at most 20 files). */
  batchSize?: number;
  restart?: boolean;
  stateDir?: string;
  /** Progress lines go here (default: stderr with a redrawn bar). */
  progress?: (text: string) => void;
}

export interface IngestSummary {
  documents: number;
  /** Requests sent (or found already accepted in the state file). */
  batches: number;
  jobs: string[];
  failed: Failure[];
  seconds: number;
}

type Failure = { document_id: string; error: string };

type Values = Record<string, string | boolean | undefined>;

export async function ingestCommand(positionals: string[], values: Values): Promise<void> {
  const [source] = positionals;
  if (!source) throw new UsageError("ingest needs a .jsonl file, a file or a folder");
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

/** The files of a folder that are documents, by extension, with the Content-Type each is sent with. */
export const FILE_TYPES: Record<string, string> = {
  ".md": "text/markdown; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".pdf": "application/pdf",
  ".html": "text/html",
  ".htm": "text/html",
  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
};

const typeOf = (file: string): string | undefined => FILE_TYPES[extname(file).toLowerCase()];
const isText = (file: string) => [".md", ".txt"].includes(extname(file).toLowerCase());

/**
 * A file to upload, as the upload plan reads it: `name` is its path relative to the source (its
 * part's file name), `metadata` its document's id and `metadata.path`.
 */
export interface SourceFile {
  name: string;
  size: number;
  path: string;
  type: string;
  metadata: { id: string; path: string };
}

/**
 * The document files of a folder, in name order (or the source itself, when it is one): each as a
 * piece of the upload plan, or its failure; a blank .md/.txt file (nothing left once its front
 * matter is set aside) is skipped, as there is nothing to index.
 */
export function* sourceFiles(source: string): Generator<Piece<SourceFile> | Failure> {
  const root = resolve(source);
  if (!existsSync(root)) throw new UsageError(`${source} does not exist`);
  const directory = statSync(root).isDirectory();
  const files = directory ? [...walk(root)] : [root];
  for (const path of files) {
    const type = typeOf(path);
    if (!type) continue;
    const name = directory ? relative(root, path) : basename(path);
    const id = sourceDocumentId(name);
    const size = statSync(path).size;
    if (isText(path) && (size === 0 || !fileDocument(name, readFileSync(path, "utf8")).text.trim())) continue;
    const piece = filePiece({ name, size, path, type, metadata: { id, path: name } });
    if (typeof piece !== "string") yield piece;
    else yield { document_id: id, error: `${size === 0 ? "NO_TEXT" : "PAYLOAD_TOO_LARGE"}: not sent: ${piece}` };
  }
}

/** Whether the source is read as JSON Lines: a file that is not one of FILE_TYPES. */
function isJsonLinesSource(source: string): boolean {
  const path = resolve(source);
  if (!existsSync(path)) throw new UsageError(`${source} does not exist`);
  return !statSync(path).isDirectory() && typeOf(path) === undefined;
}

/** Files in name order, hidden ones (and hidden folders) left out. */
function* walk(dir: string): Generator<string> {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
  }
}

/**
 * A JSON Lines source's lines, as they are (gzip inflated), each non-blank one checked as the API
 * will read it: JSON with an id and a text, or a usage error naming it. `at` counts the lines read.
 */
async function* checkedLines(source: string, at: { line: number }): AsyncGenerator<string> {
  const path = resolve(source);
  const input = path.endsWith(".gz") ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    at.line += 1;
    if (line.trim()) {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        throw new UsageError(`${source}:${at.line} is not JSON`);
      }
      const document =
        typeof record === "object" && record !== null && !Array.isArray(record) ? jsonLineDocument(record as Record<string, unknown>) : "";
      if (typeof document === "string" || !document.id) throw new UsageError(`${source}:${at.line} needs an id (or _id) and a text`);
    }
    yield line;
  }
}

/** The file name a JSON Lines source's parts are sent under: its own, less `.gz` (they go inflated). */
function jsonLinesPartName(source: string): string {
  const name = basename(source).replace(/\.gz$/i, "");
  return /[A-Za-z0-9]/.test(name) && !/\.gz$/i.test(name) ? name : "lines.jsonl";
}

/** One part of a request: its file name, Content-Type, bytes, and (for a file) its own metadata. */
interface Part {
  name: string;
  type: string;
  bytes: Buffer;
  metadata?: Record<string, string>;
}

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
  // Requests are remembered by a hash of what they sent, so an edited source never has a changed
  // request skipped as "already sent". `lines`: the first line (0-based) of each job's JSON Lines
  // part, which maps the line numbers the API names back to the source's.
  const state: { accepted: string[]; jobs: string[]; lines?: Record<string, number> } =
    !options.restart && existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : { accepted: [], jobs: [] };
  const accepted = new Set(state.accepted);
  const lines = state.lines ?? {};
  const save = () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(stateFile, JSON.stringify({ accepted: [...accepted], jobs: state.jobs, lines }));
  };

  let documents = 0;
  let batches = 0;
  const failed: Failure[] = [];
  /** Sends a request unless the state file says it was accepted; its job id when it is sent now. */
  const send = async (parts: Part[], count: number): Promise<string | undefined> => {
    const digest = createHash("sha256").update(JSON.stringify(["files", options.collection ?? null]));
    for (const part of parts)
      digest.update(JSON.stringify([part.name, part.type, part.metadata ?? null, part.bytes.length])).update(part.bytes);
    const hash = digest.digest("hex");
    let jobId: string | undefined;
    if (!accepted.has(hash)) {
      jobId = await postFiles(options, parts);
      state.jobs.push(jobId);
      accepted.add(hash);
    }
    documents += count;
    batches += 1;
    return jobId;
  };

  const jsonLines = isJsonLinesSource(source);
  if (jsonLines) {
    const name = jsonLinesPartName(source);
    const at = { line: 0 };
    try {
      for await (const run of lineRuns(checkedLines(source, at), { documents: batchSize })) {
        const jobId = await send([{ name, type: "application/jsonl", bytes: Buffer.from(run.text) }], run.documents);
        if (jobId && run.start > 0) lines[jobId] = run.start;
        if (jobId) save();
        progress(`sent ${documents} documents in ${batches} requests`);
      }
    } catch (error) {
      // A line longer than a request's JSON Lines text is not a document the API takes (its text is at most 1,000,000 characters).
      if (error instanceof UnsendableLine) throw new UsageError(`${source}:${at.line}: ${error.message}`);
      throw error;
    }
  } else {
    const pieces: Piece<SourceFile>[] = [];
    for (const item of sourceFiles(source)) {
      if ("document_id" in item) failed.push(item);
      else pieces.push(item);
    }
    for (const request of requests(pieces, { documents: batchSize })) {
      const parts = request.map(({ file }) => ({
        name: file.name,
        type: file.type,
        bytes: readFileSync(file.path),
        metadata: file.metadata,
      }));
      if (await send(parts, request.length)) save();
      progress(`sent ${documents} documents in ${batches} requests`);
    }
  }

  const outcomes = await waitForJobs(options, state.jobs, progress);
  for (const { job, failure } of outcomes) failed.push(jsonLines ? sourceLine(failure, basename(source), lines[job] ?? 0) : failure);
  progress(`done: ${documents} documents, ${state.jobs.length} jobs, ${failed.length} failed\n`);
  return { documents, batches, jobs: state.jobs, failed, seconds: (Date.now() - started) / 1000 };
}

/**
 * A failed line as the source has it: the API names a line of a JSON Lines part `<part>#<n>`
 * (`INVALID_LINE: line n: …`), n counted in the part, which began at the source's line `start + 1`.
 */
export function sourceLine(failure: Failure, source: string, start: number): Failure {
  const named = /^.+#(\d+)$/.exec(failure.document_id);
  if (!named) return failure;
  const line = start + Number(named[1]);
  return {
    document_id: `${source}#${line}`,
    error: failure.error.replace(/^INVALID_LINE: line \d+:/, `INVALID_LINE: line ${line}:`),
  };
}

async function request(options: IngestOptions, path: string, init: RequestInit = {}, timeoutMs = 120_000): Promise<Response> {
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
        signal: AbortSignal.timeout(timeoutMs),
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

/**
 * One request to POST /v1/documents/files: its parts, each file followed by its own `metadata`
 * (one per file, in order: the route's per-file form), and the collection. Its job id.
 */
async function postFiles(options: IngestOptions, parts: Part[]): Promise<string> {
  const form = new FormData();
  for (const part of parts) {
    form.append("file", new Blob([part.bytes], { type: part.type }), part.name);
    if (part.metadata) form.append("metadata", JSON.stringify(part.metadata));
  }
  if (options.collection) form.append("collection", options.collection);
  // The worker parses every file at the origin before it answers: a full request may take a while.
  const response = await request(options, "/v1/documents/files", { method: "POST", body: form }, 300_000);
  const body = (await response.json().catch(() => ({}))) as { job_id?: string; detail?: string; code?: string };
  if (response.status !== 202 || !body.job_id) {
    const names = parts.map((part) => part.name);
    throw new ApiFailure(
      `POST /v1/documents/files (${names.slice(0, 3).join(", ")}${names.length > 3 ? ` and ${names.length - 3} more` : ""}) answered ${response.status} ${body.code ?? ""}: ${body.detail ?? ""}`,
      response.ok ? EXIT.error : exitCodeOf(response.status),
      response.status,
    );
  }
  return body.job_id;
}

/** Waits for every job to end; each failed document with the job that lists it. */
async function waitForJobs(options: IngestOptions, jobs: string[], progress: (text: string) => void) {
  const failed: Array<{ job: string; failure: Failure }> = [];
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
      const job = (await response.json()) as { status: string; errors?: Failure[] };
      if (job.status === "done" || job.status === "failed") {
        pending.delete(id);
        finished += 1;
        for (const failure of job.errors ?? []) failed.push({ job: id, failure });
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
