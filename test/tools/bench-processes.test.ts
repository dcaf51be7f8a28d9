import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { coresBusy, cpuSeconds, hasInspector, processesNamed, processMemory, treeRss } from "../../tools/bench/memory";
import { workerErrors } from "../../tools/stack/stack";

/**
 * The benchmark's measurements of real processes (RSS of a tree, workerd told from its proxy, CPU
 * time with niced threads apart), on processes these tests start. They wait for those processes
 * and read /proc, so they live here rather than in the unit suite (test/unit/bench-figures.test.ts).
 */
describe("bench process measurements", () => {
  it("sums the RSS of a process and its children", async () => {
    // A shell whose child sleeps: the tree holds both, and more than either alone.
    const child = spawn("sh", ["-c", "sleep 30 & wait"], { stdio: "ignore", detached: true });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const tree = treeRss(child.pid!);
      expect([...tree.names].sort()).toEqual(["sh", "sleep"]);
      expect(tree.bytes).toBe([...tree.byName.values()].reduce((a, b) => a + b, 0));
      expect(tree.bytes).toBeGreaterThan(tree.byName.get("sh")!);
      expect(treeRss(2 ** 22 + 12_345).bytes).toBe(0); // no such process
    } finally {
      process.kill(-child.pid!, "SIGKILL"); // its own process group: the shell and its sleep
    }
  });

  it("tells wrangler's runtime workerd (started with an inspector) from its proxy, and splits RSS into anonymous and file pages", async () => {
    // `sh -c script name args…`: the extra arguments only show in the shell's command line.
    const runtime = spawn("sh", ["-c", "sleep 30", "sh", "--inspector-addr=127.0.0.1:0"], { stdio: "ignore", detached: true });
    const proxy = spawn("sh", ["-c", "sleep 30 & wait"], { stdio: "ignore", detached: true });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(hasInspector(runtime.pid!)).toBe(true);
      expect(hasInspector(proxy.pid!)).toBe(false);
      expect(processesNamed(proxy.pid!, "sleep")).toHaveLength(1);
      expect(processesNamed(proxy.pid!, "workerd")).toEqual([]);
      const memory = processMemory(process.pid);
      expect(memory.anon).toBeGreaterThan(0);
      expect(memory.anon + memory.file).toBeLessThanOrEqual(memory.rss + 64 * 1024);
      expect(processMemory(2 ** 22 + 12_345)).toEqual({ rss: 0, anon: 0, file: 0 });
    } finally {
      process.kill(-runtime.pid!, "SIGKILL");
      process.kill(-proxy.pid!, "SIGKILL");
    }
  });

  it("counts a process tree's CPU time, with the origin's niced threads apart, and turns two snapshots into cores busy", async () => {
    // Two busy loops under one shell: one at the default priority, one at nice 10.
    const busy = "while :; do :; done";
    const tree = spawn("sh", ["-c", `(${busy}) & nice -n 10 sh -c '${busy}' & wait`], { stdio: "ignore", detached: true });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const asOrigin = cpuSeconds([{ name: "origin", pid: tree.pid! }]);
      expect(asOrigin.origin).toBeGreaterThan(0);
      expect(asOrigin["origin (niced)"]).toBeGreaterThan(0);
      // Only the origin's niced threads are told apart; any other component keeps all its time.
      const asRedis = cpuSeconds([{ name: "redis", pid: tree.pid! }]);
      expect(Object.keys(asRedis)).toEqual(["redis"]);
      expect(asRedis.redis).toBeGreaterThanOrEqual(asOrigin.origin! + asOrigin["origin (niced)"]!);
      // The worker's tree is split by process (workerd, its proxy, wrangler): no workerd here, so all is wrangler's.
      const asWorker = cpuSeconds([{ name: "worker", pid: tree.pid! }]);
      expect(asWorker.wrangler).toBeGreaterThan(0);
      expect(asWorker.workerd ?? 0).toBe(0);
      expect(cpuSeconds([{ name: "origin", pid: 2 ** 22 + 12_345 }])).toEqual({}); // no such process
    } finally {
      process.kill(-tree.pid!, "SIGKILL");
    }
    expect(coresBusy({ a: 1, b: 2 }, { a: 3, b: 2.5, c: 1 }, 2)).toEqual({ a: 1, b: 0.25, c: 0.5 });
  });
});

describe("the worker's errors in wrangler's log (tools/stack/stack.ts workerErrors)", () => {
  it("counts each error entry by its first line, and nothing else; no log at all is null", () => {
    const stateDir = mkdtempSync(join(tmpdir(), "edge-rag-worker-errors-"));
    try {
      expect(workerErrors(stateDir)).toBeNull();
      mkdirSync(join(stateDir, "wrangler-logs"));
      const entry = (level: string, text: string) => `\n--- 2026-12-07T01:45:49.908Z ${level}\n${text}\n---\n`;
      const never = "✘ [ERROR] Uncaught Error: Promise will never complete. ";
      writeFileSync(
        join(stateDir, "wrangler-logs", "wrangler-1.log"),
        entry("debug", "setting config") + entry("error", never) + entry("info", "[ERROR] not an error entry") + entry("error", never),
      );
      writeFileSync(
        join(stateDir, "wrangler-logs", "wrangler-2.log"),
        entry("error", "✘ [ERROR] Uncaught TypeError: x is not a function\n    at y"),
      );
      expect(Object.fromEntries(workerErrors(stateDir)!)).toEqual({
        "Uncaught Error: Promise will never complete.": 2,
        "Uncaught TypeError: x is not a function": 1,
      });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
