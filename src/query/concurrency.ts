/**
 * Maps `items` with at most `limit` calls of `fn` in flight, keeping the input order in the
 * result. A Worker may hold only 6 outgoing connections at once per request, so fan-out (batch
 * queries) goes through this instead of an unbounded Promise.all. `fn` should not throw; if it
 * does, the first error rejects the whole map after the in-flight calls settle.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("limit must be a positive integer");
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * A limit shared by several fan-outs: `limit(fn)` runs `fn` once fewer than `slots` calls are in
 * flight, in arrival order (FIFO), so work queued first starts first. For a handler whose phases
 * overlap (the queue consumer's D1 reads, origin calls and writes) within the 6 connections a Worker
 * invocation may hold. A call that throws frees its slot and rejects its own promise only.
 */
export function createLimiter(slots: number): <R>(fn: () => Promise<R>) => Promise<R> {
  if (!Number.isInteger(slots) || slots < 1) throw new RangeError("slots must be a positive integer");
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (running < slots) running++;
    // A finishing call hands its slot straight to the next one waiting.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
