import { type ApiClient, ApiFailure, apiClient, connectionOf, EXIT, ok, paint, readEvents, sleep } from "./api";
import type { components } from "./api-types";
import { UsageError } from "./usage-error";

/** The commands that work through the public API (query, search, documents, jobs, keys, cache). */
type Values = Record<string, string | boolean | undefined>;

type Source = components["schemas"]["QuerySource"];
type QueryRequest = components["schemas"]["QueryRequest"];
type Job = components["schemas"]["Job"];
type DocumentSummary = components["schemas"]["DocumentSummary"];
type DocumentStatus = DocumentSummary["status"];

const out = paint(process.stdout);
const err = paint(process.stderr);

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function oneArgument(positionals: string[], what: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0];
}

function integerOption(values: Values, name: string, min: number, max: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${name} is a whole number ${min}..${max}`);
  return value;
}

/** `--collection c` and `--filters '<json>'` become the request's `filters`. */
function filtersOf(values: Values): Record<string, unknown> | undefined {
  let filters: Record<string, unknown> | undefined;
  if (typeof values.filters === "string") {
    try {
      filters = JSON.parse(values.filters) as Record<string, unknown>;
    } catch {
      throw new UsageError('--filters is a JSON object, e.g. \'{"lang":{"$in":["en"]}}\'');
    }
    if (typeof filters !== "object" || filters === null || Array.isArray(filters)) throw new UsageError("--filters is a JSON object");
  }
  if (typeof values.collection === "string") filters = { ...filters, collection: values.collection };
  return filters;
}

function retrievalOf(values: Values, maxTopK: number): Omit<QueryRequest, "query" | "stream"> {
  const mode = values.mode;
  if (mode !== undefined && !["hybrid", "vector", "keyword"].includes(String(mode)))
    throw new UsageError("--mode is hybrid, vector or keyword");
  const topK = integerOption(values, "top-k", 1, maxTopK);
  const filters = filtersOf(values);
  return {
    ...(topK === undefined ? {} : { top_k: topK }),
    ...(mode === undefined ? {} : { mode: mode as QueryRequest["mode"] }),
    ...(filters ? { filters: filters as QueryRequest["filters"] } : {}),
    ...(values.explain ? { explain: true } : {}),
    ...(values["no-cache"] ? { cache: false } : {}),
  };
}

function printSources(sources: Source[]): void {
  sources.forEach((source, index) => {
    const text = (key: string) => (typeof source.metadata?.[key] === "string" ? (source.metadata[key] as string) : undefined);
    const where = [text("title"), source.document_id, text("collection")].filter(Boolean).join(" · ");
    const ranks = source.ranks
      ? ` ${Object.entries(source.ranks)
          .map(([name, rank]) => `${name}=${rank ?? "-"}`)
          .join(" ")}`
      : "";
    process.stdout.write(`${out.bold(`[${index + 1}]`)} ${out.cyan(where)} ${out.dim(`score ${source.score.toFixed(3)}${ranks}`)}\n`);
    process.stdout.write(`    ${source.text.replaceAll(/\s+/g, " ").slice(0, 300)}\n`);
  });
}

export async function queryCommand(positionals: string[], values: Values): Promise<void> {
  const text = positionals.join(" ").trim();
  if (!text) throw new UsageError('query needs the question, e.g. edge-rag query "How do I rotate an API key?"');
  const client = apiClient(connectionOf(values));
  const body: QueryRequest = { query: text, ...retrievalOf(values, 50) };
  if (values.json || values["no-stream"]) {
    const response = await ok(client.POST("/v1/query", { body }));
    if (typeof response === "string") throw new ApiFailure("POST /v1/query answered text where JSON was asked for", EXIT.error);
    if (values.json) return print(response);
    process.stdout.write(`${response.answer}\n\n`);
    printSources(response.sources);
    printMetadata(response.metadata);
    return;
  }
  const { response } = await streamed(client, { ...body, stream: true });
  let sources: Source[] = [];
  let metadata: Record<string, unknown> | undefined;
  for await (const event of readEvents(response)) {
    if (event.event === "sources") sources = JSON.parse(event.data) as Source[];
    else if (event.event === "token") process.stdout.write((JSON.parse(event.data) as { text: string }).text);
    else if (event.event === "done") metadata = JSON.parse(event.data) as Record<string, unknown>;
    else if (event.event === "error") {
      const problem = JSON.parse(event.data) as { status?: number; code?: string; detail?: string };
      process.stdout.write("\n");
      throw new ApiFailure(
        `the answer stream failed: ${problem.code ?? ""} ${problem.detail ?? ""}`.trim(),
        EXIT.unavailable,
        problem.status,
      );
    }
  }
  process.stdout.write("\n\n");
  printSources(sources);
  if (metadata) printMetadata(metadata);
  else throw new ApiFailure("the answer stream ended before its `done` event", EXIT.unavailable);
}

function printMetadata(metadata: Record<string, unknown>): void {
  const timings = metadata.timings_ms as Record<string, number> | undefined;
  const parts = [
    `cache ${metadata.cache}`,
    typeof metadata.query_time_ms === "number" ? `${metadata.query_time_ms.toFixed(0)} ms` : undefined,
    timings
      ? Object.entries(timings)
          .map(([phase, ms]) => `${phase} ${ms.toFixed(0)}`)
          .join(", ")
      : undefined,
    metadata.degraded ? err.yellow(`degraded: ${JSON.stringify(metadata.degraded_reasons ?? true)}`) : undefined,
    `request ${metadata.request_id}`,
  ];
  process.stderr.write(`${err.dim(parts.filter(Boolean).join(" · "))}\n`);
}

export async function searchCommand(positionals: string[], values: Values): Promise<void> {
  const text = positionals.join(" ").trim();
  if (!text) throw new UsageError("search needs the query text");
  const groupBy = values["group-by"];
  if (groupBy !== undefined && groupBy !== "chunk" && groupBy !== "document") throw new UsageError("--group-by is chunk or document");
  const response = await ok(
    apiClient(connectionOf(values)).POST("/v1/search", {
      body: { query: text, ...retrievalOf(values, 100), ...(groupBy ? { group_by: groupBy } : {}) },
    }),
  );
  if (values.json) return print(response);
  if (response.results.length === 0) process.stderr.write("no results\n");
  printSources(response.results);
  printMetadata(response.metadata);
}

/** Every page of GET /v1/documents (or the first --limit documents), in id order. */
export async function documentsListCommand(_positionals: string[], values: Values): Promise<void> {
  const status = values.status;
  if (status !== undefined && !["queued", "indexed", "failed"].includes(String(status)))
    throw new UsageError("--status is queued, indexed or failed");
  const limit = integerOption(values, "limit", 1, Number.MAX_SAFE_INTEGER) ?? Number.POSITIVE_INFINITY;
  const client = apiClient(connectionOf(values));
  const documents: DocumentSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await ok(
      client.GET("/v1/documents", {
        params: {
          query: {
            limit: Math.min(100, limit - documents.length),
            ...(typeof values.collection === "string" ? { collection: values.collection } : {}),
            ...(status === undefined ? {} : { status: status as DocumentStatus }),
            ...(cursor === undefined ? {} : { cursor }),
          },
        },
      }),
    );
    documents.push(...page.documents);
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined && documents.length < limit);
  if (values.json) return print(documents);
  for (const document of documents) {
    const state = document.status === "failed" ? out.red("failed") : document.status;
    const title = typeof document.metadata.title === "string" ? document.metadata.title : "";
    process.stdout.write(
      `${document.id}\t${document.collection}\t${state}\t${document.chunk_count} chunks\t${document.updated_at}\t${title}\n`,
    );
  }
}

export async function documentsGetCommand(positionals: string[], values: Values): Promise<void> {
  const id = oneArgument(positionals, "document id");
  const document = await ok(apiClient(connectionOf(values)).GET("/v1/documents/{id}", { params: { path: { id } } }));
  if (values.json) return print(document);
  const { text, ...rest } = document;
  for (const [name, value] of Object.entries(rest))
    process.stdout.write(`${out.bold(name)}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}\n`);
  if (typeof text === "string") process.stdout.write(`\n${text}\n`);
}

export async function documentsDeleteCommand(positionals: string[], values: Values): Promise<void> {
  if (positionals.length === 0) throw new UsageError("documents delete needs one or more document ids");
  const client = apiClient(connectionOf(values));
  for (const id of positionals) {
    await ok(client.DELETE("/v1/documents/{id}", { params: { path: { id } } }));
    process.stderr.write(`deleted document ${id}\n`);
  }
}

export async function jobsGetCommand(positionals: string[], values: Values): Promise<void> {
  const id = oneArgument(positionals, "job id");
  const job = await getJob(apiClient(connectionOf(values)), id);
  if (values.json) return print(job);
  process.stdout.write(`${id}: ${job.status} · ${job.documents} documents · ${job.chunks} chunks · ${job.errors.length} errors\n`);
  for (const error of job.errors.slice(0, 20)) process.stdout.write(`  ${error.document_id}: ${error.error}\n`);
}

/** Waits until every job is done or failed, drawing progress on stderr; exit 2 when any failed. */
export async function jobsWaitCommand(positionals: string[], values: Values): Promise<void> {
  if (positionals.length === 0) throw new UsageError("jobs wait needs one or more job ids");
  const client = apiClient(connectionOf(values));
  const timeout = integerOption(values, "timeout", 1, 86_400) ?? 600;
  const deadline = Date.now() + timeout * 1000;
  const jobs = new Map<string, Job>();
  const spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
  let tick = 0;
  let lastLine = "";
  for (;;) {
    for (const id of positionals) {
      const known = jobs.get(id);
      if (known && (known.status === "done" || known.status === "failed")) continue;
      jobs.set(id, await getJob(client, id));
    }
    const finished = [...jobs.values()].filter((job) => job.status === "done" || job.status === "failed").length;
    const line = `${finished}/${positionals.length} jobs finished`;
    if (process.stderr.isTTY) {
      const width = 24;
      const filled = Math.round((finished / positionals.length) * width);
      process.stderr.write(`\r\x1b[2K${spinner[tick++ % spinner.length]} [${"█".repeat(filled)}${"░".repeat(width - filled)}] ${line}`);
    } else if (line !== lastLine) process.stderr.write(`${line}\n`);
    lastLine = line;
    if (finished === positionals.length) break;
    if (Date.now() > deadline) {
      if (process.stderr.isTTY) process.stderr.write("\n");
      throw new ApiFailure(`timed out after ${timeout} s with ${positionals.length - finished} job(s) unfinished`, EXIT.unavailable);
    }
    await sleep(1000);
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
  const results = positionals.map((id) => jobs.get(id)!);
  if (values.json) print(results);
  else for (const job of results) process.stdout.write(`${job.id}: ${job.status} · ${job.documents} documents · ${job.chunks} chunks\n`);
  const failed = results.filter((job) => job.status === "failed" || job.errors.length > 0);
  for (const job of failed)
    for (const error of job.errors.slice(0, 20)) process.stderr.write(err.red(`  ${error.document_id}: ${error.error}\n`));
  if (failed.length > 0) process.exitCode = EXIT.partial;
}

/**
 * Indexes stored documents again (after a model or chunking change; admin): the named ids, or the
 * collection's, or every document, a page of at most 100 per request (POST /v1/documents/reindex,
 * following next_cursor), then waits for the jobs as `jobs wait` does (exit 2 if a document failed).
 */
export async function reindexCommand(positionals: string[], values: Values): Promise<void> {
  if (positionals.length > 0 && values.collection !== undefined) throw new UsageError("give document ids or --collection, not both");
  const client = apiClient(connectionOf(values));
  const collection = typeof values.collection === "string" ? values.collection : undefined;
  const jobs: string[] = [];
  let documents = 0;
  const page = async (body: components["schemas"]["ReindexRequest"]) => {
    const accepted = await ok(client.POST("/v1/documents/reindex", { body }));
    jobs.push(accepted.job_id);
    documents += accepted.accepted;
    process.stderr.write(`${accepted.job_id}: ${accepted.accepted} documents to index again\n`);
    for (const failure of accepted.failed) process.stderr.write(err.red(`  ${failure.document_id}: ${failure.error}\n`));
    return accepted.next_cursor;
  };
  if (positionals.length > 0)
    for (let i = 0; i < positionals.length; i += REINDEX_PAGE) await page({ ids: positionals.slice(i, i + REINDEX_PAGE) });
  else {
    let cursor: string | null | undefined;
    do cursor = await page({ ...(collection ? { collection } : {}), ...(cursor ? { cursor } : {}) });
    while (cursor);
  }
  process.stderr.write(`${documents} documents in ${jobs.length} job${jobs.length === 1 ? "" : "s"}\n`);
  if (!values["no-wait"]) await jobsWaitCommand(jobs, values);
  else if (values.json) print(jobs);
  else process.stdout.write(`${jobs.join("\n")}\n`);
}

/** The documents POST /v1/documents/reindex takes in one request. */
const REINDEX_PAGE = 100;

export async function keysListCommand(_positionals: string[], values: Values): Promise<void> {
  const { keys } = await ok(apiClient(connectionOf(values)).GET("/v1/api-keys"));
  if (values.json) return print(keys);
  for (const key of keys) {
    // Keys outlive their creator: say when the one who made it can no longer act.
    const creator = `${key.created_by ?? "unknown"}${key.creator_disabled ? ` ${out.red("(creator disabled)")}` : ""}`;
    process.stdout.write(
      `${key.id}\t${key.name}\t${key.roles.join(",")}\t${key.revoked_at ? out.red("revoked") : key.expires_at ? `expires ${key.expires_at}` : "active"}\tcreated by ${creator}\n`,
    );
  }
}

export async function keysRevokeCommand(positionals: string[], values: Values): Promise<void> {
  if (positionals.length === 0) throw new UsageError("keys revoke needs one or more key ids");
  const client = apiClient(connectionOf(values));
  for (const id of positionals) {
    await ok(client.DELETE("/v1/api-keys/{id}", { params: { path: { id } } }));
    process.stderr.write(`revoked key ${id}\n`);
  }
}

/** Signs the token in --key / EDGE_RAG_KEY out: the API refuses it from then on. */
export async function logoutCommand(_positionals: string[], values: Values): Promise<void> {
  await ok(apiClient(connectionOf(values)).POST("/v1/auth/logout"));
  process.stderr.write("signed out: this token no longer works\n");
}

export async function cachePurgeCommand(_positionals: string[], values: Values): Promise<void> {
  await ok(apiClient(connectionOf(values)).DELETE("/v1/cache"));
  process.stderr.write("the tenant's query cache is empty\n");
}

/** Operators: deletes whole tenants (their credentials, documents, index and vectors), printing what each lost. */
export async function tenantsDeleteCommand(positionals: string[], values: Values): Promise<void> {
  if (positionals.length === 0) throw new UsageError("tenants delete needs one or more tenant ids");
  const client = apiClient(connectionOf(values));
  for (const tenant of positionals) {
    const deleted = await ok(client.DELETE("/v1/tenants/{tenant}", { params: { path: { tenant } } }));
    if (values.json) print(deleted);
    else
      process.stderr.write(
        `deleted tenant ${tenant}: ${deleted.documents} documents, ${deleted.vectors} vectors, ${deleted.api_keys} API keys, ${deleted.users} users\n`,
      );
  }
}

/**
 * Operators: copies each tenant's rows still in D1's shared tables into its object (what each
 * object does when it starts; this runs it ahead of traffic), calling again while a large tenant's
 * copy goes on slice by slice, one line per tenant; exit 2 when any was not copied whole.
 */
export async function migrateTenantDataCommand(_positionals: string[], values: Values): Promise<void> {
  const client = apiClient(connectionOf(values));
  const tenants = typeof values.tenant === "string" ? [values.tenant] : await allPages(client);
  let incomplete = 0;
  for (const tenant of tenants) {
    const migrate = () => ok(client.POST("/v1/tenants/{tenant}/migrate-data", { params: { path: { tenant } } }));
    let result = await migrate();
    // A large tenant is copied a slice per call (each about 20 s), resumed where the last stopped.
    while (result.status === "copying") {
      if (!values.json)
        process.stderr.write(
          `${tenant}\tcopying\t${result.source.counts.documents ?? 0} documents, ${result.source.counts.chunks ?? 0} chunks so far\n`,
        );
      result = await migrate();
    }
    if (values.json) print(result);
    else {
      const counts = Object.entries(result.source.counts)
        .map(([table, count]) => `${table} ${count}`)
        .join(", ");
      process.stdout.write(`${tenant}\t${result.status}\t${counts}\n`);
    }
    if (result.status === "changed" || result.status === "in_use") incomplete++;
  }
  if (!values.json) process.stderr.write(`${tenants.length} tenants, ${incomplete} not copied whole\n`);
  if (incomplete > 0) process.exitCode = EXIT.partial;
}

async function allPages(client: ApiClient): Promise<string[]> {
  const tenants: string[] = [];
  for (let after = ""; ; ) {
    const page = await ok(client.GET("/v1/tenants/with-d1-data", { params: { query: { after, limit: 1000 } } }));
    tenants.push(...page.tenants);
    if (page.tenants.length < 1000) return tenants;
    after = page.tenants.at(-1)!;
  }
}

const getJob = (client: ApiClient, id: string): Promise<Job> => ok(client.GET("/v1/jobs/{id}", { params: { path: { id } } }));

/** POST /v1/query as server-sent events: the response, unread, once it is a 200. */
async function streamed(client: ApiClient, body: QueryRequest) {
  const result = await client.POST("/v1/query", { body, parseAs: "stream", headers: { accept: "text/event-stream" } });
  if (!result.response.ok) {
    const text = await result.response.text().catch(() => "");
    let problem: unknown = text;
    try {
      problem = JSON.parse(text);
    } catch {}
    await ok(Promise.resolve({ error: problem, response: result.response }));
  }
  return result;
}
