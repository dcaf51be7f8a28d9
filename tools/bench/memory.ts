import { readdirSync, readFileSync } from "node:fs";

/**
 * Resident memory of the local stack's processes over a run: every `intervalMs` it reads VmRSS
 * from /proc/<pid>/status for each component's group leader and all its descendants (wrangler's
 * workerd, tsx's node), and records the sum per component with the phase the run was in.
 *
 * Linux only (/proc); elsewhere it records nothing and the report says so. A process that exits
 * between listing and reading counts as 0. Cost: one /proc scan per sample (a few ms).
 */
export interface RssSample {
  /** seconds since the sampler started */
  t: number;
  phase: string;
  /** component → bytes (leader + descendants) */
  rss: Record<string, number>;
}

export interface RssFigures {
  component: string;
  /** Process names in the component's tree, e.g. "node, workerd". */
  processes: string;
  peak: number;
  /** Median over the samples of the steady phases (the query phases, after ingestion). */
  steady: number;
  /** Median of the first and of the last tenth of the samples (RSS growth over the run). */
  first: number;
  last: number;
}

function statusOf(pid: number): { name: string; ppid: number; rss: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "m").exec(status)?.[1]?.trim() ?? "";
    return { name: field("Name"), ppid: Number(field("PPid")), rss: Number.parseInt(field("VmRSS") || "0", 10) * 1024 };
  } catch {
    return null;
  }
}

/** Every live process as pid → {name, ppid, rss}. */
function processTable(): Map<number, { name: string; ppid: number; rss: number }> {
  const table = new Map<number, { name: string; ppid: number; rss: number }>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return table;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const status = statusOf(Number(entry));
    if (status) table.set(Number(entry), status);
  }
  return table;
}

/**
 * The worker's tree is wrangler (node, plus its esbuild) and workerd, the runtime that serves the
 * requests: they are reported apart, since only workerd's memory says something about the worker.
 */
function split(component: string, tree: Tree): Record<string, Tree> {
  if (component !== "worker") return { [component]: tree };
  const workerd = { bytes: 0, names: new Set<string>() };
  const wrangler = { bytes: 0, names: new Set<string>() };
  for (const [name, bytes] of tree.byName) {
    const part = name === "workerd" ? workerd : wrangler;
    part.bytes += bytes;
    part.names.add(name);
  }
  return { workerd: { ...workerd, byName: new Map() }, wrangler: { ...wrangler, byName: new Map() } };
}

interface Tree {
  bytes: number;
  names: Set<string>;
  byName: Map<string, number>;
}

/** The leader and its descendants, with their RSS summed (in all and per process name). */
export function treeRss(leader: number, table = processTable()): Tree {
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of table) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let bytes = 0;
  const names = new Set<string>();
  const byName = new Map<string, number>();
  const queue = [leader];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    const entry = table.get(pid);
    if (!entry) continue;
    bytes += entry.rss;
    names.add(entry.name);
    byName.set(entry.name, (byName.get(entry.name) ?? 0) + entry.rss);
    queue.push(...(children.get(pid) ?? []));
  }
  return { bytes, names, byName };
}

export interface MemorySampler {
  phase(name: string): void;
  /** Seconds since the sampler started (the samples' clock). */
  now(): number;
  samples: RssSample[];
  names: Map<string, Set<string>>;
  stop(): void;
  figures(steadyPhases: string[]): RssFigures[];
}

export function sampleMemory(processes: () => Array<{ name: string; pid: number }>, intervalMs = 500): MemorySampler {
  const started = performance.now();
  const samples: RssSample[] = [];
  const names = new Map<string, Set<string>>();
  let phase = "start";
  const sample = () => {
    const table = processTable();
    const rss: Record<string, number> = {};
    for (const { name, pid } of processes()) {
      for (const [component, tree] of Object.entries(split(name, treeRss(pid, table)))) {
        rss[component] = (rss[component] ?? 0) + tree.bytes;
        for (const process of tree.names) names.set(component, (names.get(component) ?? new Set()).add(process));
      }
    }
    samples.push({ t: (performance.now() - started) / 1000, phase, rss });
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
  };
  return {
    samples,
    names,
    now: () => (performance.now() - started) / 1000,
    phase(name) {
      phase = name;
      sample();
    },
    stop() {
      clearInterval(timer);
    },
    figures(steadyPhases) {
      const components = [...new Set(samples.flatMap((s) => Object.keys(s.rss)))];
      const tenth = Math.max(1, Math.floor(samples.length / 10));
      return components.map((component) => {
        const of = (list: RssSample[]) => list.map((s) => s.rss[component]).filter((v): v is number => typeof v === "number" && v > 0);
        return {
          component,
          processes: [...(names.get(component) ?? [])].sort().join(", "),
          peak: Math.max(0, ...of(samples)),
          steady: median(of(samples.filter((s) => steadyPhases.includes(s.phase)))),
          first: median(of(samples.slice(0, tenth))),
          last: median(of(samples.slice(-tenth))),
        };
      });
    },
  };
}
