import type { BenchResult } from "./bench";
import type { QueryCell } from "./queries";
import { renderTenants } from "./tenants";
import { renderWan } from "./wan";

/**
 * The Markdown report: machine facts first, then one table per question (ingestion, queries,
 * per-phase time, lane, load, memory, storage, cold start), each with the ratios that survive a
 * noisy machine, and the charts (relative file names, so the folder can be moved or attached).
 */
const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "–");
const mib = (bytes: number) => `${f(bytes / 1024 ** 2)} MiB`;
const kib = (bytes: number) => `${f(bytes / 1024)} KiB`;
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "–");
const table = (header: string[], rows: string[][]) =>
  [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");

const statusText = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .map(([status, n]) => `${status === "0" ? "no answer" : status}×${n}`)
    .join(" ");

export function renderReport(result: BenchResult, charts: Array<{ file: string; title: string }>): string {
  const { machine } = result;
  const out: string[] = [];
  out.push(`# edge-rag benchmark — ${result.startedAt}`);
  out.push("");
  out.push(
    `Machine: ${machine.cores} cores (${machine.cpu}), ${f(machine.memoryGiB)} GiB memory, ${machine.platform}, Node ${machine.node}. ` +
      `Embedding model: ${machine.embeddingModel} (${machine.dimensions}-d). Target: ${result.target.url}` +
      `${result.target.commit ? ` at ${result.target.commit}` : ""}. ` +
      `Run: ${result.options.docs} SciFact documents, ${result.options.requests} requests per query cell (at least 4 × its concurrency), ` +
      `took ${f(result.seconds / 60)} min.` +
      (Object.keys(result.options.workerVars ?? {}).length > 0
        ? ` Worker variables set for this run: ${Object.entries(result.options.workerVars!)
            .map(([name, value]) => `${name}=${value}`)
            .join(", ")}.`
        : ""),
  );
  out.push("");
  out.push(
    "Absolute figures depend on the machine and on whatever else runs on it; the ratios (÷ GET /health, ÷ concurrency 1, ÷ the raw embedder) were taken within this one run and travel better.",
  );
  for (const note of result.notes) out.push(`\n> ${note}`);

  // ── Ingestion
  out.push("\n## Ingestion\n");
  out.push(
    "From the first POST /v1/documents to the last job `done` (API, D1, queue, origin chunk + embed, vector index). " +
      "The raw embedder is the origin's POST /v1/embed on the same chunks, batched, with no worker in the way; " +
      "÷ raw embedder says how much of the model's own rate the pipeline keeps; posting s: until the client's last POST was answered (it posts one batch after another).\n",
  );
  const raw = result.embedder?.chunksPerSecond ?? Number.NaN;
  const ingestRows = result.ingest.map((row) => [
    row.label,
    String(row.batchSize),
    String(row.documents),
    String(row.chunks),
    String(row.jobs),
    f(row.seconds),
    row.postSeconds === undefined ? "–" : f(row.postSeconds),
    f(row.docsPerSecond),
    f(row.chunksPerSecond),
    ratio(row.chunksPerSecond / raw),
  ]);
  if (result.embedder)
    ingestRows.push([
      `raw embedder (/v1/embed, ${result.embedder.batchSize} per call)`,
      "–",
      "–",
      String(result.embedder.chunks),
      "–",
      f(result.embedder.embedSeconds),
      "–",
      "–",
      f(result.embedder.chunksPerSecond),
      "1.00×",
    ]);
  out.push(
    table(
      ["run", "client batch", "documents", "chunks", "jobs", "seconds", "posting s", "documents/s", "chunks/s", "÷ raw embedder"],
      ingestRows,
    ),
  );

  // ── Queries
  if (result.queries.length > 0) renderQueries(result, out);

  // ── Lane
  if (result.lane) {
    const { lane } = result;
    out.push("\n## Queries while documents are indexed\n");
    out.push(
      `POST /v1/query (cold) at concurrency ${lane.concurrency}, alone and while ${lane.ingest.documents} documents are ingested (${f(lane.ingest.seconds)} s, ${f(lane.ingest.docsPerSecond)} documents/s). Goal: p95 during ÷ p95 alone ≤ 1.5×.\n`,
    );
    out.push(
      table(
        ["run", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "statuses"],
        [
          ["alone", lane.alone],
          ["during ingest", lane.duringIngest],
        ].map(([label, s]) => {
          const summary = s as typeof lane.alone;
          return [
            label as string,
            String(summary.requests),
            f(summary.p50),
            f(summary.p95),
            f(summary.p99),
            f(summary.throughput),
            statusText(summary.statuses),
          ];
        }),
      ),
    );
    out.push(`\np95 ratio: **${ratio(lane.ratio)}** (${lane.ratio <= 1.5 ? "goal met" : "goal MISSED"}).`);
    const phases = lane.phases;
    if (phases?.alone && phases.duringIngest) {
      const { alone, duringIngest } = phases;
      out.push(
        "\nWhere those queries' time went (means, ms, from each answer's `metadata`: embed = the origin's query embedding; retrieve overlaps embed; service = `query_time_ms`; outside = client latency − service):\n",
      );
      out.push(
        table(
          ["run", "embed", "retrieve", "generate", "service", "outside", "degraded"],
          [
            ["alone", alone],
            ["during ingest", duringIngest],
            ["during ÷ alone", null],
          ].map(([label, p]) => {
            const m = p as typeof alone | null;
            const cell = (key: "embed" | "retrieve" | "generate" | "service" | "outside") =>
              m ? f(m[key]) : ratio(duringIngest[key] / alone[key]);
            // Degraded answers skip the origin: a ratio over them compares two different paths.
            const degraded = m ? `${m.degraded}/${m.answers}` : "";
            return [label as string, cell("embed"), cell("retrieve"), cell("generate"), cell("service"), cell("outside"), degraded];
          }),
        ),
      );
    }
  }

  if (result.lane?.cores) {
    const { alone, duringIngest } = result.lane.cores;
    const components = [...new Set([...Object.keys(alone), ...Object.keys(duringIngest)])].sort(
      (a, b) => (duringIngest[b] ?? 0) - (duringIngest[a] ?? 0),
    );
    const total = (cores: Record<string, number>) => Object.values(cores).reduce((sum, n) => sum + n, 0);
    out.push(
      `\nWhere the ${result.machine.cores} cores went (cores kept busy = CPU seconds ÷ wall seconds, every thread of each process; "origin (niced)" is the origin's passage-embedding threads, which run at a lower priority):\n`,
    );
    out.push(
      table(
        ["process", "alone", "during ingest"],
        [
          ...components.map((c) => [c, f(alone[c] ?? 0, 2), f(duringIngest[c] ?? 0, 2)]),
          ["all", f(total(alone), 2), f(total(duringIngest), 2)],
        ],
      ),
    );
  }

  // ── Load
  if (result.load) {
    const { load } = result;
    out.push("\n## Load soak\n");
    out.push(
      `${load.requests} requests (query and search alternating, cache on, SciFact questions in turn) at concurrency ${load.concurrency}: ` +
        `p50 ${f(load.summary.p50)} ms, p95 ${f(load.summary.p95)} ms, ${f(load.summary.throughput)} req/s; ` +
        `**5xx (or no answer): ${load.errors5xx}** (must be 0), 429: ${load.throttled}; p95 drift (last window ÷ first): ${ratio(load.p95Drift)}` +
        (Object.keys(load.rssGrowth).length > 0
          ? `; RSS growth (last window ÷ first): ${Object.entries(load.rssGrowth)
              .map(([component, growth]) => `${component} ${ratio(growth)}`)
              .join(", ")}`
          : "") +
        ".\n",
    );
    if (load.failures?.length)
      out.push(
        `Failed requests (first ${load.failures.length}; look the request ids up in stack.log beside this report):\n\n${load.failures.map((f) => `- ${f}`).join("\n")}\n`,
      );
    const components = Object.keys(load.windows[0]?.rss ?? {});
    out.push(
      table(
        ["window s", "requests", "p50 ms", "p95 ms", "5xx", "429", ...components.map((c) => `${c} RSS`)],
        load.windows.map((w) => [
          `${f(w.from)}–${f(w.to)}`,
          String(w.requests),
          f(w.p50),
          f(w.p95),
          String(w.errors5xx),
          String(w.throttled),
          ...components.map((c) => mib(w.rss?.[c] ?? Number.NaN)),
        ]),
      ),
    );
  }

  // ── Memory
  if (result.memory) {
    out.push("\n## Memory (RSS, each process with its children)\n");
    out.push(
      `Sampled every 0.5 s over the whole run (${result.memory.samples.length} samples). steady: median over the query, degraded, lane and load phases; first/last: medians of the first and last tenth of the run.\n`,
    );
    out.push(
      table(
        ["component", "processes", "peak", "steady", "first", "last", "last ÷ first"],
        result.memory.figures.map((m) => [
          m.component,
          m.processes,
          mib(m.peak),
          mib(m.steady),
          mib(m.first),
          mib(m.last),
          ratio(m.last / m.first),
        ]),
      ),
    );
  }

  // ── Storage
  if (result.storage) {
    const s = result.storage;
    const doBytes = Object.values(s.durableObjects).reduce((a, b) => a + b, 0);
    out.push("\n## Storage\n");
    out.push(`After the main ingest: ${s.documents} documents, ${s.chunks} chunks, ${s.vectorDimensions}-d vectors.\n`);
    out.push(
      table(
        ["store", "bytes", "per document", "per chunk"],
        [
          ["D1 (documents, chunks, FTS5)", mib(s.d1Bytes), kib(s.d1Bytes / s.documents), kib(s.d1Bytes / s.chunks)],
          ...Object.entries(s.durableObjects).map(([name, bytes]) => [
            `Durable Object ${name}`,
            mib(bytes),
            kib(bytes / s.documents),
            kib(bytes / s.chunks),
          ]),
          ["vectors, raw float32", mib(s.vectorRawBytes), kib(s.vectorRawBytes / s.documents), kib(s.vectorRawBytes / s.chunks)],
          [
            "all local state files",
            mib(s.d1Bytes + doBytes),
            kib((s.d1Bytes + doBytes) / s.documents),
            kib((s.d1Bytes + doBytes) / s.chunks),
          ],
        ],
      ),
    );
  }

  // ── Cold start
  if (result.coldStart) {
    const c = result.coldStart;
    out.push("\n## Cold start (production bundle)\n");
    out.push(
      `\`wrangler deploy --dry-run --env production\`: ${kib(c.bundleBytes)}, **${kib(c.gzipBytes)} gzip**. ` +
        `\`wrangler check startup\` on that bundle: **${f(c.startupCpuMs)} ms** startup CPU (sampled time − idle − the ${f(c.waitMs)} ms wait for the request; wrangler's "Active", which counts that wait: ` +
        `${c.wranglerActiveMs === null ? "–" : `${f(c.wranglerActiveMs)} ms`}; profile window ${f(c.profileMs)} ms, ${c.samples} samples of ~1 ms, ` +
        "so ±1 ms per row; measured locally, Cloudflare's CPUs differ). Self time by package (through the bundle's source map):\n",
    );
    out.push(
      table(
        ["package", "self ms", "share"],
        c.byPackage.slice(0, 8).map((p) => [p.name, f(p.selfMs, 1), `${f((p.selfMs / c.startupCpuMs) * 100)}%`]),
      ),
    );
    out.push("\nTop functions by self time:\n");
    out.push(
      table(
        ["function", "where", "self ms", "share"],
        c.top.map((t) => [`\`${t.functionName || "(anonymous)"}\``, t.where, f(t.selfMs, 2), `${f((t.selfMs / c.startupCpuMs) * 100)}%`]),
      ),
    );
  }

  // ── WAN
  if (result.wan) {
    out.push("\n## WAN profile\n");
    out.push(renderWan(result.wan));
  }

  // ── Tenant count
  if (result.tenants) {
    out.push("\n## Tenant count\n");
    out.push(renderTenants(result.tenants));
  }

  // ── Charts
  if (charts.length > 0) {
    out.push("\n## Charts\n");
    for (const chart of charts) out.push(`![${chart.title}](${chart.file})\n`);
  }
  return `${out.join("\n")}\n`;
}

/** The query cells and, at concurrency 1, where their time went. */
function renderQueries(result: BenchResult, out: string[]): void {
  const health = (concurrency: number) => result.queries.find((c) => c.endpoint === "health" && c.concurrency === concurrency);
  const sequential = (cell: QueryCell) =>
    result.queries.find((c) => c.endpoint === cell.endpoint && c.cache === cell.cache && c.origin === cell.origin && c.concurrency === 1);
  out.push("\n## Queries\n");
  out.push(
    "Closed-loop clients (each sends its next request when its answer is in). cold: `cache: false` (no answer or embedding cache); " +
      "warm: 20 questions asked before, answered by the query cache; origin down: the origin process stopped (keyword retrieval, " +
      "edge-built answer, `degraded: true`). p50 ÷ health: how many /health round trips one request costs at that concurrency; " +
      "speed-up: throughput ÷ the same cell's at concurrency 1.\n",
  );
  out.push(
    table(
      [
        "endpoint",
        "cache",
        "origin",
        "concurrency",
        "requests",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s",
        "speed-up",
        "p50 ÷ health",
        "statuses",
      ],
      result.queries.map((cell) => [
        cell.endpoint,
        cell.cache === "none" ? "–" : cell.cache,
        cell.origin,
        String(cell.concurrency),
        String(cell.latency.requests),
        f(cell.latency.p50),
        f(cell.latency.p95),
        f(cell.latency.p99),
        f(cell.latency.throughput),
        ratio(cell.latency.throughput / (sequential(cell)?.latency.throughput ?? Number.NaN)),
        ratio(cell.latency.p50 / (health(cell.concurrency)?.latency.p50 ?? Number.NaN)),
        statusText(cell.latency.statuses),
      ]),
    ),
  );

  // ── Phases
  const me1 = result.queries.find((c) => c.endpoint === "me" && c.concurrency === 1);
  const health1 = health(1);
  out.push("\n## Where a query's time goes (concurrency 1, means)\n");
  out.push(
    "From each answer's `metadata`: embed (the origin's query embedding), retrieve (the whole retrieval phase, which overlaps embed), " +
      "generate, service (`query_time_ms`); outside = client latency − `query_time_ms` (HTTP hop, authentication, rate limit, validation, " +
      "serialisation)." +
      (me1 && health1 ? ` ${authenticationCost(me1.latency.p50 - health1.latency.p50)}` : "") +
      "\n",
  );
  out.push(
    table(
      ["endpoint", "cache", "origin", "client mean ms", "embed", "retrieve", "generate", "service", "outside", "cache hits", "degraded"],
      result.queries
        .filter((cell) => cell.concurrency === 1 && cell.phases)
        .map((cell) => [
          cell.endpoint,
          cell.cache,
          cell.origin,
          f(cell.latency.mean),
          f(cell.phases!.embed),
          f(cell.phases!.retrieve),
          cell.endpoint === "query" ? f(cell.phases!.generate) : "–",
          f(cell.phases!.service),
          f(cell.phases!.outside),
          `${cell.phases!.cacheHits}/${cell.phases!.answers}`,
          `${cell.phases!.degraded}/${cell.phases!.answers}`,
        ]),
    ),
  );
  if (result.queryEmbedding) {
    const q = result.queryEmbedding;
    const queryCold1 = result.queries.find((c) => c.endpoint === "query" && c.cache === "cold" && c.origin === "up" && c.concurrency === 1);
    out.push(
      `\nThe query embedding without the worker (the origin's POST /v1/embed, one question per call, ${q.requests} calls in turn): ` +
        `mean ${f(q.mean)} ms, p50 ${f(q.p50)}, p95 ${f(q.p95)}` +
        (queryCold1?.phases ? `; the worker's \`embed\` above (${f(queryCold1.phases.embed)} ms) adds its side of that hop.` : ".") +
        "\n",
    );
  }
}

/** GET /v1/me p50 − GET /health p50: what authentication adds (/v1/me is not rate-limited), when the run can see it. */
function authenticationCost(ms: number): string {
  return ms > 0
    ? `Authentication alone ≈ GET /v1/me p50 − GET /health p50 = ${f(ms)} ms (GET /v1/me is not rate-limited).`
    : `Authentication alone (GET /v1/me p50 − GET /health p50 = ${f(ms)} ms; GET /v1/me is not rate-limited) is below this run's noise.`;
}
