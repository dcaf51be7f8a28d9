/**
 * The benchmark's load generator: `concurrency` clients, each sending its next request as soon as
 * its previous answer has been read in full (a closed loop, so a slower server sends fewer
 * requests rather than queueing more), until `count` requests have been answered or `until()` says
 * stop. It records each request's latency, status and end time, and hands the parsed JSON body to
 * `inspect` (e.g. to collect `metadata.timings_ms`).
 *
 * Failure modes: a request that throws (connection refused, timeout) counts as status 0 and does
 * not stop the run; the caller decides what a 5xx means. Cost: one fetch per request, nothing else
 * on the path being measured.
 */

export interface Sample {
  /** ms since the run started, when the answer had been read. */
  at: number;
  ms: number;
  status: number;
}

export interface Run {
  samples: Sample[];
  seconds: number;
}

export interface LoadOptions {
  concurrency: number;
  /** Stop after this many requests (default: unbounded, then `until` must be given). */
  count?: number;
  /** Checked before each request: true stops the client. */
  until?: () => boolean;
  /** Makes the i-th request. */
  request: (i: number) => Promise<Response>;
  /**
   * Reads an answer's whole body (default: `response.text()`), calling `mark` where its latency
   * ends when that is not the last byte (e.g. a stream's first token). The client sends its next
   * request only once the body is read.
   */
  readBody?: (response: Response, mark: () => void) => Promise<string>;
  /** Sees each answer's parsed body (JSON, else text) after it was timed, with its latency. */
  inspect?: (body: unknown, response: Response, ms: number) => void;
  /** Per-request timeout (default 60 s). */
  timeoutMs?: number;
}

export async function runLoad(options: LoadOptions): Promise<Run> {
  const count = options.count ?? Number.POSITIVE_INFINITY;
  const samples: Sample[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < count && !options.until?.()) {
        const i = next++;
        const t0 = performance.now();
        let status = 0;
        let body: unknown;
        let response: Response | undefined;
        let timedAt: number | undefined;
        try {
          response = await options.request(i);
          status = response.status;
          const text = options.readBody
            ? await options.readBody(response, () => {
                timedAt ??= performance.now();
              })
            : await response.text();
          body = (response.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text;
        } catch {
          status = 0;
        }
        const t1 = timedAt ?? performance.now();
        samples.push({ at: t1 - started, ms: t1 - t0, status });
        if (response && body !== undefined) options.inspect?.(body, response, t1 - t0);
      }
    }),
  );
  return { samples, seconds: (performance.now() - started) / 1000 };
}

/** Nearest-rank percentile of an ascending list (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface LatencySummary {
  requests: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  /** Answered requests per second over the run's wall time. */
  throughput: number;
  statuses: Record<string, number>;
}

export function summarise(run: Run): LatencySummary {
  const latencies = run.samples.map((sample) => sample.ms).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const sample of run.samples) statuses[String(sample.status)] = (statuses[String(sample.status)] ?? 0) + 1;
  return {
    requests: latencies.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((sum, ms) => sum + ms, 0) / Math.max(1, latencies.length),
    throughput: latencies.length / Math.max(run.seconds, 1e-9),
    statuses,
  };
}

export const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
