import type { SourceDocument } from "../../src/ingest/source-files";
import { mintOriginToken } from "../../src/origin/origin-token";
import { type LatencySummary, type Sample, summarise } from "./load";
import { bar } from "./progress";
import type { Target } from "./target";

/**
 * Ingestion figures: how fast documents go from a client's POST to `done` (the whole pipeline:
 * API, D1, queue, origin chunk + embed, vector index), and how fast the embedding model alone is
 * on the same chunks (the origin's /v1/embed, batched, no worker in the way). Their ratio is what
 * the pipeline costs on top of the model.
 *
 * Failure modes: a POST refused with anything but 202 (after retrying 429/5xx) or a job that
 * never finishes within `timeoutMs` throws; documents a job reports as failed are counted, not
 * thrown. Latency: polls each pending job every 200 ms, so a figure is late by at most that much.
 */
export interface IngestFigures {
  documents: number;
  chunks: number;
  failed: number;
  jobs: number;
  seconds: number;
  /** Until the last POST was answered: the client's own share of `seconds` (absent in older runs). */
  postSeconds?: number;
  docsPerSecond: number;
  chunksPerSecond: number;
}

export interface EmbedderFigures {
  chunks: number;
  /** Inputs per /v1/embed call. */
  batchSize: number;
  /** Time spent in /v1/chunk (not counted in chunksPerSecond). */
  chunkSeconds: number;
  embedSeconds: number;
  chunksPerSecond: number;
  model: string;
  dimensions: number;
}

const POLL_MS = 200;

async function call(target: Target, path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(new URL(path, target.url), {
      ...init,
      headers: { authorization: `Bearer ${target.key}`, "content-type": "application/json", ...init.headers },
      signal: AbortSignal.timeout(120_000),
    }).catch(() => undefined);
    if (response && response.status !== 429 && response.status < 500) return response;
    if (attempt >= 8) {
      if (response) return response;
      throw new Error(`${path}: no answer after ${attempt} attempts`);
    }
    const retryAfter = Number(response?.headers.get("retry-after") ?? 0);
    await response?.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Math.max(retryAfter * 1000, 100 * 2 ** attempt)));
  }
}

export async function postDocuments(target: Target, documents: SourceDocument[], collection: string): Promise<string> {
  const response = await call(target, "/v1/documents", { method: "POST", body: JSON.stringify({ documents, collection }) });
  const body = (await response.json().catch(() => ({}))) as { job_id?: string; detail?: string };
  if (response.status !== 202 || !body.job_id) throw new Error(`POST /v1/documents answered ${response.status}: ${body.detail ?? ""}`);
  return body.job_id;
}

/** Waits until every job is `done` or `failed`; sums what they report. */
export async function waitForJobs(
  target: Target,
  jobIds: string[],
  options: { timeoutMs?: number; progress?: (finished: number, total: number) => void } = {},
): Promise<{ documents: number; chunks: number; failed: number }> {
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  const pending = new Set(jobIds);
  const totals = { documents: 0, chunks: 0, failed: 0 };
  while (pending.size > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.size} ingestion job(s) not finished in time`);
    for (const id of [...pending]) {
      const response = await call(target, `/v1/jobs/${encodeURIComponent(id)}`);
      if (!response.ok) throw new Error(`GET /v1/jobs/${id} answered ${response.status}`);
      const job = (await response.json()) as { status: string; documents: number; chunks: number; errors?: unknown[] };
      if (job.status !== "done" && job.status !== "failed") continue;
      pending.delete(id);
      totals.documents += job.documents;
      totals.chunks += job.chunks;
      totals.failed += job.errors?.length ?? 0;
    }
    options.progress?.(jobIds.length - pending.size, jobIds.length);
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return totals;
}

/**
 * POSTs `documents` in batches of `batchSize` (one after another, as a simple client does), then
 * waits for every job: the clock runs from the first POST to the last job's `done`.
 */
export async function measureIngest(
  target: Target,
  documents: SourceDocument[],
  options: { batchSize: number; collection: string; progress?: (text: string) => void },
): Promise<IngestFigures> {
  const started = performance.now();
  const jobs: string[] = [];
  for (let i = 0; i < documents.length; i += options.batchSize) {
    jobs.push(await postDocuments(target, documents.slice(i, i + options.batchSize), options.collection));
    options.progress?.(bar("posted (documents)", Math.min(i + options.batchSize, documents.length), documents.length));
  }
  const postSeconds = (performance.now() - started) / 1000;
  const totals = await waitForJobs(target, jobs, {
    progress: (finished, total) => options.progress?.(bar("indexed (jobs)", finished, total)),
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    documents: totals.documents,
    chunks: totals.chunks,
    failed: totals.failed,
    jobs: jobs.length,
    seconds,
    postSeconds,
    docsPerSecond: totals.documents / seconds,
    chunksPerSecond: totals.chunks / seconds,
  };
}

async function originCall<T>(origin: NonNullable<Target["origin"]>, path: string, body: unknown): Promise<T> {
  const response = await fetch(`${origin.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${await mintOriginToken(origin.jwtSecret, path, "bench")}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(300_000),
  });
  if (!response.ok) throw new Error(`origin ${path} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return (await response.json()) as T;
}

/**
 * The embedding model's own rate on the pipeline's chunks: the documents are chunked by the
 * origin (/v1/chunk, the chunker the pipeline uses), then every chunk is embedded as a passage
 * through /v1/embed in batches of `batchSize`, one call at a time. Only the embed calls are timed.
 */
export async function measureEmbedder(
  origin: NonNullable<Target["origin"]>,
  documents: SourceDocument[],
  batchSize = 64,
): Promise<EmbedderFigures> {
  const chunkStarted = performance.now();
  const texts: string[] = [];
  for (let i = 0; i < documents.length; i += 100) {
    const { documents: chunked } = await originCall<{ documents: Array<{ chunks: Array<{ text: string }> }> }>(origin, "/v1/chunk", {
      documents: documents.slice(i, i + 100).map(({ id, text }) => ({ id, text })),
    });
    for (const document of chunked) for (const chunk of document.chunks) texts.push(chunk.text);
  }
  const chunkSeconds = (performance.now() - chunkStarted) / 1000;
  let model = "";
  let dimensions = 0;
  const started = performance.now();
  for (let i = 0; i < texts.length; i += batchSize) {
    const answer = await originCall<{ model: string; dimensions: number }>(origin, "/v1/embed", {
      inputs: texts.slice(i, i + batchSize),
      kind: "passage",
    });
    model = answer.model;
    dimensions = answer.dimensions;
  }
  const embedSeconds = (performance.now() - started) / 1000;
  return { chunks: texts.length, batchSize, chunkSeconds, embedSeconds, chunksPerSecond: texts.length / embedSeconds, model, dimensions };
}

/** One small embed call, so that neither figure pays for loading the model or the first JIT. */
export async function warmEmbedder(origin: NonNullable<Target["origin"]>, texts: string[]): Promise<void> {
  for (let i = 0; i < 3; i++) await originCall(origin, "/v1/embed", { inputs: texts.slice(0, 16), kind: "passage" });
}

/**
 * The query embedding as the origin serves it, with no worker in the way: one question per
 * POST /v1/embed (`kind: "query"`), one call at a time, like a query at concurrency 1. Beside the
 * `embed` phase the worker reports, the difference is the worker's side of the hop (token, fetch,
 * parsing the vectors).
 */
export async function measureQueryEmbedding(
  origin: NonNullable<Target["origin"]>,
  questions: string[],
  count: number,
): Promise<LatencySummary> {
  const samples: Sample[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const sent = performance.now();
    await originCall(origin, "/v1/embed", { inputs: [questions[i % questions.length]!], kind: "query" });
    samples.push({ at: performance.now() - started, ms: performance.now() - sent, status: 200 });
  }
  return summarise({ samples, seconds: (performance.now() - started) / 1000 });
}
