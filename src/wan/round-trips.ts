import { AsyncLocalStorage } from "node:async_hooks";
import { WAN_DEPENDENCIES, type WanDependency, type WanSettings } from "./wan-profiles";

/**
 * Counts the cross-region round trips one request waited on.
 *
 * A wait is one call to a dependency whose round trip under the profile is above 0 ms. Waits that
 * overlap in time are one round trip: `roundTrips` is the number of stretches during which at least
 * one wait was in flight. So `Promise.all([vector search, keyword search])` against the primary
 * region counts 1, and an embed followed by that search counts 2: the sequential depth of the
 * request's remote calls. `calls` counts every wait per dependency, overlapping or not. `waitedMs`
 * is the stretches' total time (delay plus the local call).
 *
 * Only waits that have ended count, so a count taken when the response's headers go out leaves out
 * what the response did not wait for: work handed to `waitUntil` (the rate limiter's Upstash count
 * after a decision taken in the colo, a key re-read after the response) and, for a streamed answer,
 * the calls still feeding its body.
 */
export class RoundTripCounter {
  private readonly ended: Array<{ dependency: WanDependency; start: number; end: number }> = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records the start of a wait; the returned function records its end (call it once). */
  begin(dependency: WanDependency): () => void {
    const start = this.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.ended.push({ dependency, start, end: this.now() });
    };
  }

  get calls(): Partial<Record<WanDependency, number>> {
    const calls: Partial<Record<WanDependency, number>> = {};
    for (const wait of this.ended) calls[wait.dependency] = (calls[wait.dependency] ?? 0) + 1;
    return calls;
  }

  get roundTrips(): number {
    return this.stretches().length;
  }

  get waitedMs(): number {
    return this.stretches().reduce((total, [start, end]) => total + end - start, 0);
  }

  /** The ended waits merged where they overlap (one that begins as another ends is the next trip). */
  private stretches(): Array<[number, number]> {
    const merged: Array<[number, number]> = [];
    for (const { start, end } of [...this.ended].sort((a, b) => a.start - b.start)) {
      const last = merged.at(-1);
      if (last && start < last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    return merged;
  }
}

/**
 * The `Server-Timing` value for a request: the profile and the time waited (`wan`), the sequential
 * round trips (`wan-round-trips`, a count in `desc`) and each dependency's calls
 * (`wan-<dependency>`, e.g. `wan-d1-primary;desc="2"`). Counts are as of when it is called: for a
 * streamed answer, the waits before its first byte.
 */
export function serverTiming(profile: string, counter: RoundTripCounter): string {
  const parts = [`wan;desc="${profile}";dur=${counter.waitedMs.toFixed(1)}`, `wan-round-trips;desc="${counter.roundTrips}"`];
  for (const dependency of WAN_DEPENDENCIES) {
    const calls = counter.calls[dependency];
    if (calls) parts.push(`wan-${dependency.toLowerCase().replaceAll("_", "-")};desc="${calls}"`);
  }
  return parts.join(", ");
}

/** What a request (or a queue batch, or a cron run) carries through its async calls. */
export interface WanContext {
  settings: WanSettings;
  counter: RoundTripCounter;
  /** Which dependency a fetch to a URL origin (`https://host:port`) reaches: Upstash, the origins. */
  remotes: ReadonlyMap<string, WanDependency>;
}

const current = new AsyncLocalStorage<WanContext>();

/** Runs `work` with this context: the delayed ports below read it. */
export const runWithWan = <T>(context: WanContext, work: () => T): T => current.run(context, work);

/** The dependency a fetch of this URL reaches under the current context (null: none, or in the colo). */
export const remoteOf = (url: URL): WanDependency | null => current.getStore()?.remotes.get(url.origin) ?? null;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `call` after the dependency's round trip under the current context's profile, and counts
 * the wait. No context (module load) or a round trip of 0: calls it at once.
 */
export async function acrossWan<T>(dependency: WanDependency, call: () => Promise<T> | T): Promise<T> {
  const context = current.getStore();
  const rtt = context?.settings.rttMs[dependency] ?? 0;
  if (!context || rtt <= 0) return call();
  const end = context.counter.begin(dependency);
  try {
    await sleep(rtt);
    return await call();
  } finally {
    end();
  }
}
