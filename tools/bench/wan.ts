import { readSseEvents } from "../../src/sse-events";
import { WAN_DEPENDENCIES, type WanSettings } from "../../src/wan/wan-profiles";
import { percentile, type Run, runLoad, summarise } from "./load";
import { progress } from "./progress";
import { jsonPost, type Target } from "./target";

/**
 * The WAN section (`npm run bench -- --wan <profile>`): the latency a user far from the primary
 * region sees, and how many cross-region round trips each request waited on (the local entry's
 * `Server-Timing` counter, src/wan/round-trips.ts). Paths:
 * - GET /health, concurrency 1: what the local stack costs a request that does no work, its stand-in
 *               for the client↔colo round trip;
 * - cache hit:  POST /v1/query of a question answered before, concurrency 1;
 * - cold miss:  POST /v1/query of a question never asked (answer and embedding caches miss: embed,
 *               retrieve, hydrate, generate), concurrency 1, not streamed: the whole answer, which
 *               bounds the time to its first token from above (locally the origin's extractive
 *               synthesizer generates in a few ms, so the two are close) and whose count covers
 *               every wait before it;
 * - first token: the same for other never-asked questions, streamed (`stream: true`), timed to the
 *               first `token` event: the measure of a miss. Its count is the waits before
 *               the response's headers, which a streamed answer sends once its sources are known;
 * - GET /health and cache hit at concurrency 16, THROUGHPUT_SECONDS each: throughput, and the hit's ÷ /health.
 */
export interface WanRow {
  path: string;
  concurrency: number;
  requests: number;
  p50: number;
  p95: number;
  throughput: number;
  statuses: Record<string, number>;
  /** Per request, from Server-Timing: the median and the largest count; null without the header. */
  roundTrips: { median: number; max: number } | null;
  /** Median calls per request to each dependency that had any (`wan-<dependency>` entries). */
  calls: Record<string, number>;
}

export interface WanFigures {
  profile: string;
  rttMs: WanSettings["rttMs"];
  rows: WanRow[];
  /** Cache hit throughput ÷ GET /health throughput at concurrency 16. */
  hitVsHealth: number;
}

export interface ServerTimingCounts {
  profile: string;
  roundTrips: number;
  calls: Record<string, number>;
}

/** The WAN entries of a Server-Timing header (null when it has none). */
export function parseServerTiming(header: string | null): ServerTimingCounts | null {
  if (!header) return null;
  const entries = new Map<string, string>();
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().split(";");
    const desc = params.map((param) => /^\s*desc="?([^"]*)"?\s*$/.exec(param)?.[1]).find((value) => value !== undefined);
    if (name && desc !== undefined) entries.set(name.trim(), desc);
  }
  const profile = entries.get("wan");
  const roundTrips = Number(entries.get("wan-round-trips"));
  if (profile === undefined || !Number.isFinite(roundTrips)) return null;
  const calls: Record<string, number> = {};
  for (const [name, desc] of entries) if (name.startsWith("wan-") && name !== "wan-round-trips") calls[name.slice(4)] = Number(desc);
  return { profile, roundTrips, calls };
}

/** One row from a run and the Server-Timing counts its answers carried. */
export function wanRow(path: string, concurrency: number, run: Run, counts: ServerTimingCounts[]): WanRow {
  const latency = summarise(run);
  const median = (values: number[]) =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
  const dependencies = new Set(counts.flatMap((count) => Object.keys(count.calls)));
  const calls: Record<string, number> = {};
  for (const dependency of dependencies) calls[dependency] = median(counts.map((count) => count.calls[dependency] ?? 0));
  return {
    path,
    concurrency,
    requests: latency.requests,
    p50: latency.p50,
    p95: latency.p95,
    throughput: latency.throughput,
    statuses: latency.statuses,
    roundTrips:
      counts.length === 0
        ? null
        : { median: median(counts.map((count) => count.roundTrips)), max: Math.max(...counts.map((count) => count.roundTrips)) },
    calls,
  };
}

/** The Markdown table of a WAN run. */
export function renderWan(figures: WanFigures): string {
  const rtts = WAN_DEPENDENCIES.map((dependency) => `${dependency} ${figures.rttMs[dependency]}`).join(", ");
  const lines = [
    `Profile \`${figures.profile}\` (round trips in ms: ${rtts}). Round trips: sequential cross-region waits per request from \`Server-Timing\` (median, max); calls: median per request.`,
    "",
    "| profile | path | concurrency | requests | p50 ms | p95 ms | requests/s | round trips (median, max) | calls per request | statuses |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of figures.rows) {
    const trips = row.roundTrips ? `${row.roundTrips.median}, ${row.roundTrips.max}` : "–";
    const calls =
      Object.entries(row.calls)
        .filter(([, n]) => n > 0)
        .map(([dependency, n]) => `${dependency} ${n}`)
        .join(", ") || "–";
    const statuses = Object.entries(row.statuses)
      .map(([status, n]) => `${status}×${n}`)
      .join(" ");
    lines.push(
      `| ${figures.profile} | ${row.path} | ${row.concurrency} | ${row.requests} | ${row.p50.toFixed(1)} | ${row.p95.toFixed(1)} | ${row.throughput.toFixed(1)} | ${trips} | ${calls} | ${statuses} |`,
    );
  }
  const atOne = (path: string) => figures.rows.find((row) => row.path === path && row.concurrency === 1);
  const [health, hit] = [atOne("GET /health"), atOne("cache hit")];
  if (health && hit) lines.push("", `Cache hit p50 − GET /health p50 at concurrency 1: **${(hit.p50 - health.p50).toFixed(1)} ms**`);
  lines.push("", `Cache hit throughput ÷ GET /health at concurrency 16: **${figures.hitVsHealth.toFixed(2)}×**`);
  return `${lines.join("\n")}\n`;
}

/** How long each concurrency-16 cell runs. */
export const THROUGHPUT_SECONDS = 15;

/**
 * Measures the WAN rows against a stack started under `settings` (its worker sends Server-Timing).
 * `warm` questions are in the query cache already; `unasked` have never been asked.
 */
export async function measureWan(
  target: Target,
  settings: WanSettings,
  options: { warm: string[]; unasked: string[]; requests: number },
): Promise<WanFigures> {
  if (options.unasked.length < 2 * options.requests)
    throw new Error(`wan: ${options.requests} cold misses, whole and streamed, need ${2 * options.requests} unasked questions`);
  const rows: WanRow[] = [];
  const cell = async (
    path: string,
    concurrency: number,
    amount: { count: number } | { seconds: number },
    request: (i: number) => Promise<Response>,
    readBody?: (response: Response, mark: () => void) => Promise<string>,
  ) => {
    const counts: ServerTimingCounts[] = [];
    progress(`wan: ${path} at concurrency ${concurrency}…`, true);
    const ends = "seconds" in amount ? performance.now() + amount.seconds * 1000 : Number.POSITIVE_INFINITY;
    const run = await runLoad({
      concurrency,
      count: "count" in amount ? amount.count : undefined,
      until: () => performance.now() >= ends,
      request,
      readBody,
      inspect: (_body, response) => {
        const parsed = parseServerTiming(response.headers.get("server-timing"));
        if (parsed) counts.push(parsed);
      },
    });
    const row = wanRow(path, concurrency, run, counts);
    rows.push(row);
    return row;
  };
  const hit = (i: number) => jsonPost(target, "/v1/query", { query: options.warm[i % options.warm.length] });
  const health = () => fetch(`${target.url}/health`, { signal: AbortSignal.timeout(60_000) });
  // The client↔colo round trip of the local stack: a request that does no work (the hit's goal is this + 10 ms).
  const count = { count: options.requests };
  await cell("GET /health", 1, count, health);
  await cell("cache hit", 1, count, hit);
  await cell("cold miss", 1, count, (i) => jsonPost(target, "/v1/query", { query: options.unasked[i] }));
  const streamed = options.unasked.slice(options.requests);
  await cell("cold miss, first token", 1, count, (i) => jsonPost(target, "/v1/query", { query: streamed[i], stream: true }), firstToken);
  // Throughput over a fixed time, long enough that ramping up and down does not count: a few
  // dozen requests at 200/s would be over in a fraction of a second.
  const healthRow = await cell("GET /health", 16, { seconds: THROUGHPUT_SECONDS }, health);
  const hitRow = await cell("cache hit", 16, { seconds: THROUGHPUT_SECONDS }, hit);
  return { profile: settings.profile, rttMs: settings.rttMs, rows, hitVsHealth: hitRow.throughput / healthRow.throughput };
}

/** Reads a query stream to its end, marking its first `token` event (an answer without one is timed to its end). */
async function firstToken(response: Response, mark: () => void): Promise<string> {
  if (!response.ok || !response.body) return response.text();
  let events = 0;
  for await (const event of readSseEvents(response.body)) {
    events += 1;
    if (event.event === "token") mark();
  }
  return `${events} events`;
}
