/**
 * Consecutive items packed greedily, in order, into groups that stay within a byte budget (and an
 * item count): the shape of every "as few calls as the limits allow" in ingestion — JSON rows per
 * D1 parameter, messages per Queues sendBatch. An item that alone exceeds the budget is the
 * caller's to handle (`oversized`), never silently dropped.
 */
export function packInOrder<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  limits: { maxBytes: number; maxItems?: number; groupOverheadBytes?: number },
): { groups: T[][]; oversized: T[] } {
  const overhead = limits.groupOverheadBytes ?? 0;
  const maxItems = limits.maxItems ?? Number.POSITIVE_INFINITY;
  const groups: T[][] = [];
  const oversized: T[] = [];
  let current: T[] = [];
  let bytes = overhead;
  for (const item of items) {
    const size = sizeOf(item);
    if (size + overhead > limits.maxBytes) {
      oversized.push(item);
      continue;
    }
    if (current.length > 0 && (current.length >= maxItems || bytes + size > limits.maxBytes)) {
      groups.push(current);
      current = [];
      bytes = overhead;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return { groups, oversized };
}
