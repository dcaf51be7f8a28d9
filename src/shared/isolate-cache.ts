/**
 * A value per key kept in the isolate's memory after a read, for tenant limits and tenant state
 * (and the same shape as the API key cache): what lets a request in steady use answer without
 * leaving the colo.
 *
 * Promise: `get` answers from memory for `ttlMs` after a read began (the staleness bound), and
 * reads a value past half that age again after the response (`background`, waitUntil), so a key
 * in steady use never waits on its source. Only settled values are shared between requests: a
 * request never awaits another's read (workerd cancels it as hung, or fails it with "Cannot perform
 * I/O on behalf of a different request"), so concurrent first reads each read. A read that began
 * before a `forget` (a write of this isolate's own) is returned to its caller but not kept, and a
 * re-read replaces only the entry it refreshes. Failure modes: the source's, on a foreground read; a failed background read leaves
 * the cached value to expire. Safe to lose: a cold isolate reads again.
 */
export interface IsolateCache<V> {
  get(key: string, background?: (work: Promise<unknown>) => void): Promise<V>;
  forget(key: string): void;
}

const MAX_ENTRIES = 10_000;

export function createIsolateCache<V>(read: (key: string) => Promise<V>, options: { ttlMs: number; now?: () => number }): IsolateCache<V> {
  const { ttlMs, now = Date.now } = options;
  const entries = new Map<string, { value: V; readAt: number }>();
  const rereading = new Set<string>();
  // How many times each key was forgotten: a read that began before the last forget is not kept.
  const forgets = new Map<string, number>();

  const load = async (key: string, refreshing?: { value: V; readAt: number }): Promise<V> => {
    const readAt = now();
    const forgotten = forgets.get(key);
    const value = await read(key);
    if (ttlMs <= 0 || forgets.get(key) !== forgotten || (refreshing && entries.get(key) !== refreshing)) return value;
    entries.delete(key);
    entries.set(key, { value, readAt });
    if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    return value;
  };

  return {
    async get(key, background) {
      const hit = entries.get(key);
      const age = hit ? now() - hit.readAt : Infinity;
      if (!hit || age >= ttlMs) return load(key);
      if (background && age >= ttlMs / 2 && !rereading.has(key)) {
        rereading.add(key);
        background(
          load(key, hit)
            .then(undefined, () => {})
            .finally(() => rereading.delete(key)),
        );
      }
      return hit.value;
    },
    forget(key) {
      entries.delete(key);
      forgets.set(key, (forgets.get(key) ?? 0) + 1);
      if (forgets.size > MAX_ENTRIES) forgets.delete(forgets.keys().next().value!);
    },
  };
}
