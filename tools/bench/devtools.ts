/**
 * The JS heap of workerd's isolates, read over the V8 inspector (the DevTools protocol) that
 * workerd serves when started with `--inspector-addr` (wrangler dev starts the workerd that runs
 * the worker so, on a port the OS picks, for its own inspector proxy). workerd's own endpoint is used rather than wrangler's proxy: it lists every
 * isolate of the process — the worker's, and the local simulators' (D1, KV, Cache, Queues) — where
 * the proxy lists only the worker's.
 *
 * Failure modes: no inspector (not Linux, no `--inspector-addr`, no port answering /json) → `null`; a
 * session that does not answer within `timeoutMs` → that isolate is left out. Latency: about a
 * second per reading (a session per isolate, opened in parallel; workerd needs a moment to attach).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { hasInspector } from "./memory";

export interface HeapReading {
  /** The isolate's id as workerd lists it (e.g. `core:user:edge-rag`, `d1:db`, `kv:ns`). */
  isolate: string;
  /** Bytes of JS objects (live, and garbage not yet collected). */
  used: number;
  /** Bytes V8 has reserved for the heap. */
  total: number;
  /** Bytes of ArrayBuffer backing stores and other embedder memory V8 accounts for. */
  external: number;
}

/**
 * The TCP ports a process listens on (its own sockets, from /proc/<pid>/fd and /proc/net/tcp):
 * wrangler starts workerd with `--inspector-addr=127.0.0.1:0`, so the port is known only this way.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return "";
        }
      })();
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode) inodes.add(inode);
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // st 0A = LISTEN
      if (fields[3] === "0A" && inodes.has(fields[9] ?? "")) ports.push(Number.parseInt(fields[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

const ATTACH_MS = 1_000;

interface Target {
  title?: string;
  id: string;
  webSocketDebuggerUrl?: string;
}

/** Sends CDP commands on one socket and resolves each with its result. */
async function session(url: string, timeoutMs: number, onEvent?: (method: string, params: unknown) => void) {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    setTimeout(() => reject(new Error(`inspector ${url}: no connection in ${timeoutMs} ms`)), timeoutMs).unref();
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`inspector ${url}: could not connect`)), { once: true });
  });
  // workerd drops commands sent the moment a session opens (it attaches to the isolate first).
  await new Promise((resolve) => setTimeout(resolve, ATTACH_MS));
  let next = 0;
  const pending = new Map<number, (message: { result?: unknown; error?: { message: string } }) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number;
      method?: string;
      params?: unknown;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id !== undefined) pending.get(message.id)?.(message);
    else if (message.method) onEvent?.(message.method, message.params);
  });
  return {
    send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const id = ++next;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${method}: no answer in ${timeoutMs} ms`)), timeoutMs);
        pending.set(id, (message) => {
          clearTimeout(timer);
          pending.delete(id);
          if (message.error) reject(new Error(`${method}: ${message.error.message}`));
          else resolve(message.result as T);
        });
      });
    },
    close: () => socket.close(),
  };
}

/** workerd's inspector address and the isolates it lists; `null` when it has none. */
async function inspectorTargets(workerdPid: number): Promise<{ address: string; targets: Target[] } | null> {
  if (!hasInspector(workerdPid)) return null;
  let address: string | undefined;
  let targets: Target[] = [];
  // Of its listening ports (the entry socket, the debug port, the inspector), the inspector is the one that lists targets.
  for (const port of listeningPorts(workerdPid)) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(2_000) });
      const body = (await response.json()) as unknown;
      if (Array.isArray(body) && body.every((t) => typeof t === "object" && t && "id" in t)) {
        address = `127.0.0.1:${port}`;
        targets = body as Target[];
        break;
      }
    } catch {}
  }
  return address ? { address, targets } : null;
}

/**
 * Reads each isolate's heap, all at once. workerd does not answer HeapProfiler.collectGarbage, so
 * `used` includes garbage not yet collected: an upper bound on the live heap. `null` when workerd
 * has no inspector.
 */
export async function readHeaps(workerdPid: number, timeoutMs = 15_000): Promise<HeapReading[] | null> {
  const found = await inspectorTargets(workerdPid);
  if (!found) return null;
  const { address, targets } = found;
  const readings = await Promise.all(
    targets.map(async (target): Promise<HeapReading | null> => {
      let cdp: Awaited<ReturnType<typeof session>> | undefined;
      try {
        cdp = await session(target.webSocketDebuggerUrl ?? `ws://${address}/${target.id}`, timeoutMs);
        const usage = await cdp.send<{ usedSize: number; totalSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number }>(
          "Runtime.getHeapUsage",
        );
        return {
          isolate: target.id,
          used: usage.usedSize,
          total: usage.totalSize,
          external: (usage.embedderHeapUsedSize ?? 0) + (usage.backingStorageSize ?? 0),
        };
      } catch {
        // An isolate that does not answer is left out; the others still count.
        return null;
      } finally {
        cdp?.close();
      }
    }),
  );
  return readings.filter((reading) => reading !== null);
}

export interface HeapSnapshotSummary {
  isolate: string;
  /** Bytes of the objects alive after the GC a snapshot forces. */
  live: number;
  /** The biggest groups by self size: objects by constructor, the rest by V8's node type. */
  top: Array<{ name: string; bytes: number; count: number }>;
}

/**
 * Takes a heap snapshot of one isolate (V8 collects garbage first, so this is the live heap) and
 * sums it. Heavy — the isolate pauses and the snapshot (tens of MiB of JSON) comes over the socket —
 * so a probe takes it once, at the end.
 */
export async function heapSnapshot(workerdPid: number, isolate: string, timeoutMs = 120_000): Promise<HeapSnapshotSummary | null> {
  const found = await inspectorTargets(workerdPid);
  const target = found?.targets.find((t) => t.id === isolate);
  if (!found || !target) return null;
  const chunks: string[] = [];
  const cdp = await session(target.webSocketDebuggerUrl ?? `ws://${found.address}/${target.id}`, timeoutMs, (method, params) => {
    if (method === "HeapProfiler.addHeapSnapshotChunk") chunks.push((params as { chunk: string }).chunk);
  });
  try {
    await cdp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  } finally {
    cdp.close();
  }
  const snapshot = JSON.parse(chunks.join("")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((field) => fields.indexOf(field)) as [number, number, number];
  const types = snapshot.snapshot.meta.node_types[0];
  const groups = new Map<string, { bytes: number; count: number }>();
  let live = 0;
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const size = snapshot.nodes[i + sizeAt]!;
    const name = type === "object" || type === "native" ? snapshot.strings[snapshot.nodes[i + nameAt]!]! : `(${type})`;
    live += size;
    const group = groups.get(name) ?? { bytes: 0, count: 0 };
    group.bytes += size;
    group.count += 1;
    groups.set(name, group);
  }
  const top = [...groups]
    .map(([name, group]) => ({ name, ...group }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 8);
  return { isolate, live, top };
}

/** A V8 CPU profile (the DevTools protocol's `Profiler.Profile`), as written to a .cpuprofile file. */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Samples one isolate's CPU (every `intervalUs`) while `during` runs, and returns the profile with
 * what `during` returned. `null` when workerd has no inspector or no such isolate. workerd reads an
 * isolate's inspector messages only while the isolate runs something, so each command is sent
 * while `poke` (a request to the worker, e.g. GET /health) is repeated until it is answered.
 */
export async function cpuProfile<T>(
  workerdPid: number,
  isolate: string,
  during: () => Promise<T>,
  poke: () => Promise<unknown>,
  intervalUs = 200,
): Promise<{ profile: CpuProfile; result: T } | null> {
  const found = await inspectorTargets(workerdPid);
  const target = found?.targets.find((t) => t.id === isolate);
  if (!found || !target) return null;
  const url = target.webSocketDebuggerUrl ?? `ws://${found.address}/${target.id}`;
  let cdp = await session(url, 60_000);
  const poked = async <R>(command: Promise<R>): Promise<R> => {
    let answered = false;
    command.then(
      () => (answered = true),
      () => (answered = true),
    );
    while (!answered) {
      await poke().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return command;
  };
  try {
    // The first session after workerd starts may get no answer at all: a new one does.
    for (let attempt = 1; ; attempt++) {
      const enabled = await Promise.race([
        poked(cdp.send("Profiler.enable")).then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000).unref()),
      ]);
      if (enabled) break;
      cdp.close();
      if (attempt === 3) throw new Error(`inspector ${url}: Profiler.enable was never answered`);
      cdp = await session(url, 60_000);
    }
    await poked(cdp.send("Profiler.setSamplingInterval", { interval: intervalUs }));
    await poked(cdp.send("Profiler.start"));
    const result = await during();
    const { profile } = await poked(cdp.send<{ profile: CpuProfile }>("Profiler.stop"));
    return { profile, result };
  } finally {
    cdp.close();
  }
}

/** Self time per function (name and position) of a profile, largest first, in ms; `(idle)` included. */
export function selfTimes(profile: CpuProfile): Array<{ name: string; ms: number }> {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = byNode.get(id)!.callFrame;
    const file = frame.url.split("/").slice(-2).join("/");
    const name = `${frame.functionName || "(anonymous)"} ${file}${file ? `:${frame.lineNumber + 1}` : ""}`;
    totals.set(name, (totals.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...totals].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
}
