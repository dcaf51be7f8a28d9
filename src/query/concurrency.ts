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
