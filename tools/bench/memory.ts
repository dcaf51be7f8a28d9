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

/** RSS of one process, split into anonymous (heaps, malloc) and file-backed (mapped files, the binary) pages. */
export function processMemory(pid: number): { rss: number; anon: number; file: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (name: string) => Number.parseInt(new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(status)?.[1] ?? "0", 10) * 1024;
    return { rss: kib("VmRSS"), anon: kib("RssAnon"), file: kib("RssFile") + kib("RssShmem") };
  } catch {
    return { rss: 0, anon: 0, file: 0 };
  }
}

/** The pids named `name` among the leader and its descendants (e.g. wrangler's workerd). */
export function processesNamed(leader: number, name: string, table = processTable()): number[] {
  const found: number[] = [];
  const queue = [leader];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (table.get(pid)?.name === name) found.push(pid);
    for (const [child, { ppid }] of table) if (ppid === pid) queue.push(child);
  }
  return found;
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
 * The worker's tree is wrangler (node, plus its esbuild) and two workerd processes: the runtime
 * that runs the worker and the local simulators (D1, KV, Cache, Queues, the vector index's Durable
 * Object), started with an inspector, and wrangler's dev proxy in front of it, which runs none of
 * our code. They are reported apart: only the runtime's memory says something about the worker.
 */
function split(component: string, tree: Tree): Record<string, Tree> {
  if (component !== "worker") return { [component]: tree };
  const part = () => ({ bytes: 0, names: new Set<string>(), byName: new Map<string, number>(), processes: [] as Tree["processes"] });
  const parts = { workerd: part(), "workerd-proxy": part(), wrangler: part() };
  for (const entry of tree.processes) {
    const name = entry.name !== "workerd" ? "wrangler" : hasInspector(entry.pid) ? "workerd" : "workerd-proxy";
    parts[name].bytes += entry.rss;
    parts[name].names.add(entry.name);
    parts[name].processes.push(entry);
  }
  return parts;
}

/** Whether a process was started with `--inspector-addr` (wrangler's runtime workerd is, its proxy is not). */
export function hasInspector(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .some((arg) => arg.startsWith("--inspector-addr"));
  } catch {
    return false;
  }
}

interface Tree {
  bytes: number;
  names: Set<string>;
  byName: Map<string, number>;
  processes: Array<{ pid: number; name: string; rss: number }>;
}

/** The leader and its descendants, with their RSS summed (in all and per process name). */
export function treeRss(leader: number, table = processTable()): Tree {
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of table) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let bytes = 0;
  const names = new Set<string>();
  const byName = new Map<string, number>();
  const processes: Tree["processes"] = [];
  const queue = [leader];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    const entry = table.get(pid);
    if (!entry) continue;
    bytes += entry.rss;
    names.add(entry.name);
    byName.set(entry.name, (byName.get(entry.name) ?? 0) + entry.rss);
    processes.push({ pid, name: entry.name, rss: entry.rss });
    queue.push(...(children.get(pid) ?? []));
  }
  return { bytes, names, byName, processes };
}

/** Clock ticks per second of /proc's utime/stime (USER_HZ: 100 on every Linux that Node runs on). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) each component has used so far, from /proc/<pid>/task/<tid>/stat of
 * every thread of the component's tree. The origin's threads that run at a lower priority (nice > 0:
 * its passage-embedding pool) are counted apart, as "origin (niced)", so a run can say which cores
 * went to bulk ingestion and which to what answers queries. The difference of two snapshots over a
 * wall-clock interval is the number of cores a component kept busy. Threads that exited in between
 * are not counted (their time is lost with them). Linux only: elsewhere every component reads 0.
 */
export function cpuSeconds(processes: Array<{ name: string; pid: number }>): Record<string, number> {
  const table = processTable();
  const seconds: Record<string, number> = {};
  for (const { name, pid } of processes) {
    for (const [component, tree] of Object.entries(split(name, treeRss(pid, table)))) {
      for (const { pid: member } of tree.processes) {
        for (const thread of threadStats(member)) {
          const key = name === "origin" && thread.nice > 0 ? "origin (niced)" : component;
          seconds[key] = (seconds[key] ?? 0) + thread.ticks / USER_HZ;
        }
      }
    }
  }
  return seconds;
}

function threadStats(pid: number): Array<{ ticks: number; nice: number }> {
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const stats: Array<{ ticks: number; nice: number }> = [];
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15, nice 19.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      stats.push({ ticks: Number(fields[11]) + Number(fields[12]), nice: Number(fields[16]) });
    } catch {
      // The thread exited between listing and reading.
    }
  }
  return stats;
}

/** Cores each component kept busy between two `cpuSeconds` snapshots taken `wallSeconds` apart. */
export function coresBusy(before: Record<string, number>, after: Record<string, number>, wallSeconds: number): Record<string, number> {
  const cores: Record<string, number> = {};
  for (const [component, total] of Object.entries(after)) cores[component] = Math.max(0, total - (before[component] ?? 0)) / wallSeconds;
  return cores;
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
