import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { BenchResult } from "./bench";

/**
 * The report's charts, as SVG files: Vega-Lite specs compiled to Vega and rendered headless
 * (vega's View with no renderer; toSVG needs no DOM or canvas). Latency and throughput against
 * concurrency, one line per endpoint / cache state / origin state; RSS of each component over the
 * run, with the phase boundaries marked; the load soak's p95 per window when there was one.
 */
export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const seriesOf = (cell: BenchResult["queries"][number]) =>
  `${cell.endpoint}${cell.cache === "none" ? "" : ` ${cell.cache}`}${cell.origin === "down" ? " (origin down)" : ""}`;

export async function renderCharts(result: BenchResult, dir: string): Promise<Array<{ file: string; title: string }>> {
  const charts: Array<{ file: string; title: string; spec: TopLevelSpec }> = [];
  const points = result.queries.map((cell) => ({
    series: seriesOf(cell),
    concurrency: cell.concurrency,
    p50: cell.latency.p50,
    p95: cell.latency.p95,
    throughput: cell.latency.throughput,
  }));
  const base = { width: 560, height: 320, background: "white" } as const;
  if (points.length > 0) {
    const byConcurrency = (file: string, title: string, field: "p95" | "throughput", axisTitle: string) =>
      charts.push({
        file,
        title: `${field === "p95" ? "p95 latency" : "throughput"} vs concurrency`,
        spec: {
          ...base,
          title,
          data: { values: points },
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "concurrency", type: "quantitative", scale: { type: "log", base: 2 }, axis: { values: result.options.levels } },
            y: { field, type: "quantitative", scale: { type: "log" }, title: axisTitle },
            color: { field: "series", type: "nominal", title: "endpoint", legend: { labelLimit: 320 } },
          },
        },
      });
    byConcurrency("latency-vs-concurrency.svg", "p95 latency (ms, log scale) vs concurrency", "p95", "p95 ms");
    byConcurrency("throughput-vs-concurrency.svg", "throughput (requests/s, log scale) vs concurrency", "throughput", "requests/s");
  }
  if (result.memory && result.memory.samples.length > 0) {
    // A component missing from a sample was not running (the origin, stopped for the degraded
    // phase): drawn as 0 rather than as a line straight across the gap.
    const components = [...new Set(result.memory.samples.flatMap((sample) => Object.keys(sample.rss)))];
    const rss = result.memory.samples.flatMap((sample) =>
      components.map((component) => ({ t: sample.t, component, mib: (sample.rss[component] ?? 0) / 1024 ** 2 })),
    );
    // The first sample of each phase marks where it starts.
    const phases = result.memory.samples.filter((sample, index, all) => index === 0 || all[index - 1]!.phase !== sample.phase);
    charts.push({
      file: "rss-over-time.svg",
      title: "RSS over time",
      spec: {
        ...base,
        title: "RSS per component (MiB) over the run; dashed lines: phase starts",
        layer: [
          {
            data: { values: rss },
            mark: { type: "line" },
            encoding: {
              x: { field: "t", type: "quantitative", title: "seconds since start" },
              y: { field: "mib", type: "quantitative", title: "RSS MiB" },
              color: { field: "component", type: "nominal" },
            },
          },
          {
            data: { values: phases.map((sample) => ({ t: sample.t, phase: sample.phase })) },
            mark: { type: "rule", strokeDash: [4, 4], color: "#888" },
            encoding: { x: { field: "t", type: "quantitative" } },
          },
          {
            data: { values: phases.map((sample) => ({ t: sample.t, phase: sample.phase })) },
            mark: { type: "text", angle: 270, align: "right", baseline: "bottom", dy: -2, dx: -4, fontSize: 10, color: "#555" },
            encoding: { x: { field: "t", type: "quantitative" }, y: { value: 0 }, text: { field: "phase" } },
          },
        ],
      },
    });
  }
  if (result.load && result.load.windows.length > 0) {
    charts.push({
      file: "load-p95-over-time.svg",
      title: "load soak: latency per window",
      spec: {
        ...base,
        title: `load soak: latency per window (concurrency ${result.load.concurrency})`,
        data: {
          values: result.load.windows.flatMap((w) => [
            { t: (w.from + w.to) / 2, ms: w.p50, percentile: "p50" },
            { t: (w.from + w.to) / 2, ms: w.p95, percentile: "p95" },
          ]),
        },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "t", type: "quantitative", title: "seconds into the soak" },
          y: { field: "ms", type: "quantitative", title: "ms" },
          color: { field: "percentile", type: "nominal" },
        },
      },
    });
  }
  const written: Array<{ file: string; title: string }> = [];
  for (const chart of charts) {
    writeFileSync(join(dir, chart.file), await toSvg(chart.spec));
    written.push({ file: chart.file, title: chart.title });
  }
  return written;
}
