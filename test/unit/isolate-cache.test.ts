import { describe, expect, it } from "vitest";
import { createIsolateCache } from "../../src/shared/isolate-cache";

/** A source whose reads each return the next version, and resolve when the test says. */
function source() {
  let version = 0;
  const pending: Array<() => void> = [];
  return {
    reads: () => version,
    read: (_key: string) => {
      const value = ++version;
      return new Promise<number>((resolve) => pending.push(() => resolve(value)));
    },
    settle: () => {
      for (const resolve of pending.splice(0)) resolve();
    },
  };
}

describe("isolate cache", () => {
  it("answers from memory within its time, and re-reads past half of it after the response (happy)", async () => {
    let clock = 0;
    const origin = source();
    const cache = createIsolateCache(origin.read, { ttlMs: 1_000, now: () => clock });
    const first = cache.get("t");
    origin.settle();
    expect(await first).toBe(1);
    clock = 400;
    expect(await cache.get("t", () => {})).toBe(1);
    expect(origin.reads()).toBe(1);
    // Past half: the cached value now, a re-read handed to the background, once.
    clock = 600;
    const background: Array<Promise<unknown>> = [];
    expect(await cache.get("t", (work) => background.push(work))).toBe(1);
    expect(await cache.get("t", (work) => background.push(work))).toBe(1);
    expect(background).toHaveLength(1);
    origin.settle();
    await Promise.all(background);
    expect(await cache.get("t")).toBe(2);
    // Past the bound without a re-read: the caller waits on a read.
    clock = 5_000;
    const late = cache.get("t");
    origin.settle();
    expect(await late).toBe(3);
  });

  it("does not keep a read that began before a forget (error)", async () => {
    let clock = 0;
    const origin = source();
    const cache = createIsolateCache(origin.read, { ttlMs: 1_000, now: () => clock });
    const before = cache.get("t");
    cache.forget("t");
    origin.settle();
    expect(await before).toBe(1);
    const after = cache.get("t");
    origin.settle();
    expect(await after).toBe(2);
    // A background re-read under way when the key is forgotten is dropped too.
    clock = 600;
    const background: Array<Promise<unknown>> = [];
    await cache.get("t", (work) => background.push(work));
    cache.forget("t");
    origin.settle();
    await Promise.all(background);
    const fresh = cache.get("t");
    origin.settle();
    expect(await fresh).toBe(4);
  });
});
