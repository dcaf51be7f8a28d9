import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { workerErrors } from "../stack/stack";
import { wanWorkerVars } from "../stack/wan";
import { type CpuProfile, cpuProfile, selfTimes } from "./devtools";
import { postDocuments, waitForJobs } from "./ingestion";
import { runLoad, summarise } from "./load";
import { startMeasuredStack } from "./local-stack";
import { coresBusy, cpuSeconds, hasInspector, processesNamed } from "./memory";
import { jsonPost, type Target } from "./target";

/**
 * `npm run bench:hot-path [-- --requests 2000 --out <dir>]`: where a `near` cache hit spends its CPU.
 * Starts the local stack under `--wan near`, ingests a few documents, asks one question until it is
 * a hit, then, at concurrency 16, sends `requests` GET /health and as many cache hits, twice each
 * (health, hit, health, hit), taking a V8 CPU profile of the worker's isolate during each run
 * (workerd's inspector) and each component's CPU (/proc). Prints each run's throughput, the hit ÷
 * /health ratios and their median, the CPU per request of each component, and the hit's
 * functions by self time and by total time, the hit's minus /health's; writes the .cpuprofile
 * files (open them in Chrome DevTools) to `--out`.
 */
const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    out: { type: "string" },
    rounds: { type: "string", default: "2" },
    // Throughput and CPU per request alone: no profiler slowing the isolate down.
    "no-profile": { type: "boolean", default: false },
  },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);
const stateDir = mkdtempSync(join(tmpdir(), "edge-rag-hot-path-"));
const out = values.out ?? stateDir;
mkdirSync(out, { recursive: true });
const ISOLATE = "core:user:edge-rag";

const { stack, key, closeLog } = await startMeasuredStack({
  stateDir,
  logFile: join(stateDir, "stack.log"),
  tenant: "hot-path",
  workerVars: wanWorkerVars("near", {}).vars,
});
try {
  const target: Target = { url: stack.url, key };
  const documents = Array.from({ length: 5 }, (_, i) => ({
    id: `doc-${i}`,
    text: `Document ${i}. API keys are rotated by creating a new key, moving clients, then revoking the old key. Rotation ${i} keeps access safe. `.repeat(
      8,
    ),
  }));
  await waitForJobs(target, [await postDocuments(target, documents, "hot-path")]);
  const question = "How do I rotate an API key?";
  let cache = "";
  for (let i = 0; i < 20 && cache !== "hit"; i++) {
    const body = (await (await jsonPost(target, "/v1/query", { query: question })).json()) as { metadata?: { cache?: string } };
    cache = body.metadata?.cache ?? "";
  }
  if (cache !== "hit") throw new Error(`the question never became a cache hit (last: ${cache})`);

  const worker = stack.processes().find((p) => p.name === "worker")!;
  const workerd = processesNamed(worker.pid, "workerd").find(hasInspector);
  if (!workerd) throw new Error("no workerd with an inspector");

  const paths = {
    health: () => fetch(`${stack.url}/health`, { signal: AbortSignal.timeout(60_000) }),
    hit: () => jsonPost(target, "/v1/query", { query: question }),
  };
  // Warm both paths (JIT) before measuring.
  for (const request of Object.values(paths)) await runLoad({ concurrency: 16, count: 500, request });

  const throughput: Record<string, number[]> = { health: [], hit: [] };
  const profiles: Record<string, CpuProfile[]> = { health: [], hit: [] };
  const cpuPerRequest: Record<string, Record<string, number[]>> = { health: {}, hit: {} };
  for (let round = 0; round < rounds; round++) {
    for (const [name, request] of Object.entries(paths) as Array<[keyof typeof paths, () => Promise<Response>]>) {
      const measure = async () => {
        const before = cpuSeconds(stack.processes());
        const run = await runLoad({ concurrency: 16, count: requests, request });
        const busy = coresBusy(before, cpuSeconds(stack.processes()), run.seconds);
        return { run, busy };
      };
      const poke = () => fetch(`${stack.url}/health`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text());
      const measured = values["no-profile"]
        ? { profile: { nodes: [], startTime: 0, endTime: 0, samples: [], timeDeltas: [] }, result: await measure() }
        : await cpuProfile(workerd, ISOLATE, measure, poke);
      if (!measured) throw new Error("no CPU profile");
      const { run, busy } = measured.result;
      const summary = summarise(run);
      const bad = Object.entries(summary.statuses).filter(([status]) => status !== "200");
      if (bad.length > 0) throw new Error(`${name}: statuses ${JSON.stringify(summary.statuses)}`);
      throughput[name]!.push(summary.throughput);
      profiles[name]!.push(measured.profile);
      for (const [component, cores] of Object.entries(busy)) {
        cpuPerRequest[name]![component] = [...(cpuPerRequest[name]![component] ?? []), (cores * run.seconds * 1000) / requests];
      }
      writeFileSync(join(out, `${name}-${round + 1}.cpuprofile`), JSON.stringify(measured.profile));
      console.log(`round ${round + 1} ${name}: ${summary.throughput.toFixed(1)} requests/s, p50 ${summary.p50.toFixed(1)} ms`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const ratios = throughput.hit!.map((hit, i) => hit / throughput.health![i]!);
  console.log(`\nhit ÷ /health per round: ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${median(ratios).toFixed(2)}×`);
  console.log("\nCPU ms per request by component (median of rounds): component  /health  hit");
  for (const component of Object.keys(cpuPerRequest.hit!)) {
    const h = median(cpuPerRequest.health![component] ?? [0]);
    const q = median(cpuPerRequest.hit![component] ?? [0]);
    console.log(`  ${component.padEnd(16)} ${h.toFixed(2).padStart(7)} ${q.toFixed(2).padStart(7)}`);
  }

  if (!values["no-profile"]) printProfiles();

  function printProfiles() {
    /** Self and total (inclusive) ms per request by function, over every round of a path. */
    const perRequest = (list: CpuProfile[]) => {
      const self = new Map<string, number>();
      const total = new Map<string, number>();
      for (const profile of list) {
        for (const { name, ms } of selfTimes(profile)) self.set(name, (self.get(name) ?? 0) + ms / (requests * list.length));
        const parent = new Map<number, number>();
        for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
        const byId = new Map(profile.nodes.map((node) => [node.id, node]));
        profile.samples.forEach((id, i) => {
          const seen = new Set<string>();
          for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
            const frame = byId.get(at)!.callFrame;
            const file = frame.url.split("/").slice(-2).join("/");
            const name = `${frame.functionName || "(anonymous)"} ${file}${file ? `:${frame.lineNumber + 1}` : ""}`;
            if (seen.has(name)) continue;
            seen.add(name);
            total.set(name, (total.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000 / (requests * list.length));
          }
        });
      }
      return { self, total };
    };
    const hit = perRequest(profiles.hit!);
    const health = perRequest(profiles.health!);
    const busyMs = (m: Map<string, number>) => [...m].filter(([name]) => !name.startsWith("(idle)")).reduce((s, [, ms]) => s + ms, 0);
    console.log(
      `\nworker isolate busy ms per request (profile, not idle): /health ${busyMs(health.self).toFixed(3)}, hit ${busyMs(hit.self).toFixed(3)}`,
    );
    const top = (title: string, m: Map<string, number>, minus?: Map<string, number>) => {
      console.log(`\n${title}`);
      const rows = [...m].map(([name, ms]) => [name, ms - (minus?.get(name) ?? 0)] as const).sort((a, b) => b[1] - a[1]);
      for (const [name, ms] of rows.slice(0, 40)) console.log(`  ${(ms * 1000).toFixed(0).padStart(6)} µs  ${name}`);
    };
    top("hit: self time per request, minus /health's", hit.self, health.self);
    top("hit: total time per request", hit.total);
    console.log(`\nprofiles: ${out}`);
  }
  // Errors that reach no response (a waitUntil workerd failed) show only in wrangler's log.
  const errors = workerErrors(stateDir);
  console.log(`\nworker errors (wrangler's log): ${errors === null ? "no log written" : errors.size === 0 ? "none" : ""}`);
  for (const [error, count] of errors ?? []) console.log(`  ${count}× ${error}`);
} finally {
  await stack.stop();
  closeLog();
  if (!values.out) rmSync(stateDir, { recursive: true, force: true });
}
