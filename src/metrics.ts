/**
 * Prometheus metrics of THIS isolate, every one declared here once. A Worker runs as many isolates
 * across Cloudflare's network, each with its own counters that vanish when it is evicted, so a
 * scrape of /metrics sees one isolate's counts since it started
 * (`edge_rag_isolate_start_time_seconds` says when). The global view is the Analytics Engine
 * dataset (ANALYTICS binding), written per request in production.
 */

const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

interface Family {
  render(lines: string[]): void;
}

const families: Family[] = [];
const startedAt = Date.now() / 1000;

type Labels<L extends string> = Record<L, string>;

function labelKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}="${String(labels[name]).replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
    .join(",");
}

const series = (name: string, ...parts: Array<string | undefined>) => {
  const all = parts.filter(Boolean).join(",");
  return all ? `${name}{${all}}` : name;
};

function counter<L extends string>(name: string, help: string, _labels: readonly L[]) {
  const values = new Map<string, number>();
  families.push({
    render(lines) {
      if (values.size === 0) return;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [key, value] of values) lines.push(`${series(name, key)} ${value}`);
    },
  });
  return {
    inc(labels: Labels<L>, by = 1) {
      const key = labelKey(labels);
      values.set(key, (values.get(key) ?? 0) + by);
    },
  };
}

function histogram<L extends string>(name: string, help: string, _labels: readonly L[], buckets = LATENCY_BUCKETS_MS) {
  const all = new Map<string, { counts: number[]; sum: number; count: number }>();
  families.push({
    render(lines) {
      if (all.size === 0) return;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [key, { counts, sum, count }] of all) {
        for (const [index, bound] of buckets.entries()) lines.push(`${series(`${name}_bucket`, key, `le="${bound}"`)} ${counts[index]}`);
        lines.push(`${series(`${name}_bucket`, key, 'le="+Inf"')} ${count}`);
        lines.push(`${series(`${name}_sum`, key)} ${sum}`, `${series(`${name}_count`, key)} ${count}`);
      }
    },
  });
  return {
    observe(labels: Labels<L>, value: number) {
      const key = labelKey(labels);
      let entry = all.get(key);
      if (!entry) {
        entry = { counts: buckets.map(() => 0), sum: 0, count: 0 };
        all.set(key, entry);
      }
      buckets.forEach((bound, index) => {
        if (value <= bound) entry.counts[index]! += 1;
      });
      entry.sum += value;
      entry.count += 1;
    },
  };
}

/** Every metric the worker exports. The names are part of the operators' contract (dashboards, alerts). */
export const metrics = {
  httpRequests: counter("edge_rag_http_requests_total", "HTTP requests by method, route and status.", ["method", "route", "status"]),
  httpDuration: histogram("edge_rag_http_request_duration_ms", "Time to response headers, by route.", ["route"]),
  queries: counter("edge_rag_queries_total", "Answered queries by retrieval mode and whether they degraded.", ["mode", "degraded"]),
  queryDegraded: counter("edge_rag_query_degraded_total", "Degraded query answers by reason.", ["reason"]),
  queryPhase: histogram("edge_rag_query_phase_duration_ms", "Query time by phase (embed, retrieve, generate).", ["phase"]),
  rateLimitDecisions: counter("edge_rag_rate_limit_decisions_total", "Rate-limit decisions by class and outcome.", ["class", "outcome"]),
  rateLimitStoreErrors: counter("edge_rag_rate_limit_store_errors_total", "Rate-limit decisions made without the store, by policy.", [
    "class",
    "policy",
  ]),
  ingestMessages: counter("edge_rag_ingest_messages_total", "Ingest queue messages by outcome.", ["outcome"]),
  cacheLookups: counter("edge_rag_cache_lookups_total", "Query cache reads by tier and outcome (hit, miss, expired, corrupt, error).", [
    "tier",
    "outcome",
  ]),
  cacheWrites: counter("edge_rag_cache_writes_total", "Query cache writes by tier and outcome (stored, error, oversized).", [
    "tier",
    "outcome",
  ]),
  cacheResults: counter(
    "edge_rag_cache_results_total",
    "Query results by operation, cache status (hit, stale, miss, bypass) and the tier a cached one came from.",
    ["operation", "status", "tier"],
  ),
};

export function renderMetrics(): string {
  const lines: string[] = [
    "# HELP edge_rag_isolate_start_time_seconds When this isolate started (its counters start at zero then).",
    "# TYPE edge_rag_isolate_start_time_seconds gauge",
    `edge_rag_isolate_start_time_seconds ${startedAt}`,
  ];
  for (const family of families) family.render(lines);
  return `${lines.join("\n")}\n`;
}
