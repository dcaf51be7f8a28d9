/**
 * Prometheus metrics of THIS isolate. A Worker runs as many isolates across Cloudflare's network,
 * each with its own counters that vanish when it is evicted, so a scrape of /metrics sees one
 * isolate's counts since it started (`edge_rag_isolate_start_time_seconds` says when). The global
 * view is the Analytics Engine dataset (ANALYTICS binding), written per request in production.
 */

type Labels = Record<string, string>;

const counters = new Map<string, { help: string; values: Map<string, number> }>();
const histograms = new Map<string, { help: string; buckets: number[]; series: Map<string, { counts: number[]; sum: number; count: number }> }>();
const startedAt = Date.now() / 1000;

const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}="${String(labels[name]).replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
    .join(",");
}

export function incrementCounter(name: string, help: string, labels: Labels = {}, by = 1): void {
  let counter = counters.get(name);
  if (!counter) counters.set(name, (counter = { help, values: new Map() }));
  const labelKey = key(labels);
  counter.values.set(labelKey, (counter.values.get(labelKey) ?? 0) + by);
}

export function observeHistogram(name: string, help: string, labels: Labels, value: number, buckets = LATENCY_BUCKETS_MS): void {
  let histogram = histograms.get(name);
  if (!histogram) histograms.set(name, (histogram = { help, buckets, series: new Map() }));
  const labelKey = key(labels);
  let series = histogram.series.get(labelKey);
  if (!series) histogram.series.set(labelKey, (series = { counts: histogram.buckets.map(() => 0), sum: 0, count: 0 }));
  histogram.buckets.forEach((bound, index) => {
    if (value <= bound) series.counts[index]! += 1;
  });
  series.sum += value;
  series.count += 1;
}

const withLabels = (name: string, labelKey: string, extra?: string) => {
  const all = [labelKey, extra].filter(Boolean).join(",");
  return all ? `${name}{${all}}` : name;
};

export function renderMetrics(): string {
  const lines: string[] = [
    "# HELP edge_rag_isolate_start_time_seconds When this isolate started (its counters start at zero then).",
    "# TYPE edge_rag_isolate_start_time_seconds gauge",
    `edge_rag_isolate_start_time_seconds ${startedAt}`,
  ];
  for (const [name, { help, values }] of counters) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const [labelKey, value] of values) lines.push(`${withLabels(name, labelKey)} ${value}`);
  }
  for (const [name, { help, buckets, series }] of histograms) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const [labelKey, { counts, sum, count }] of series) {
      buckets.forEach((bound, index) => lines.push(`${withLabels(`${name}_bucket`, labelKey, `le="${bound}"`)} ${counts[index]}`));
      lines.push(`${withLabels(`${name}_bucket`, labelKey, 'le="+Inf"')} ${count}`);
      lines.push(`${withLabels(`${name}_sum`, labelKey)} ${sum}`, `${withLabels(`${name}_count`, labelKey)} ${count}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
