/**
 * Exact (brute-force) nearest-neighbour search over float32 vectors held in memory.
 *
 * Layout: one `VectorSegment` per namespace; a segment keeps its rows in blocks of `BLOCK_ROWS`
 * contiguous float32 rows, so growing a big segment never reallocates (or briefly doubles) the
 * matrix — that matters under a Durable Object's 128 MB isolate limit. Deletes swap the last row
 * into the hole. Cosine vectors are stored pre-normalised, so cosine is one dot product per row.
 *
 * Scores follow https://developers.cloudflare.com/vectorize/best-practices/create-indexes/#distance-metrics:
 * cosine = cosine similarity (higher is closer); euclidean = L2 distance (lower is closer);
 * dot-product = the NEGATIVE dot product (lower is closer). Matches are ordered closest first.
 *
 * Cost: O(rows × dimensions) multiply-adds per query plus O(rows × log topK) heap work; roughly
 * 15–40 ms for 30k × 512 on one core. Everything here is safe to lose: it is rebuilt from SQLite.
 */
import type { CompiledFilter, IndexedValues } from "./metadata-filter";

export const BLOCK_ROWS = 1024;
const MIN_FIRST_BLOCK_ROWS = 8;
/** Segment key of vectors stored without a namespace (namespaces are non-empty strings). */
export const NO_NAMESPACE = "";

export class VectorSegment {
  readonly blocks: Float32Array[] = [];
  readonly ids: string[] = [];
  readonly indexed: (IndexedValues | undefined)[] = [];
  private readonly rowOf = new Map<string, number>();

  constructor(
    readonly dimensions: number,
    /** The namespace, or undefined for vectors stored without one. */
    readonly namespace: string | undefined,
  ) {}

  get size(): number {
    return this.ids.length;
  }

  indexedOf(id: string): IndexedValues | undefined {
    const row = this.rowOf.get(id);
    return row === undefined ? undefined : this.indexed[row];
  }

  /** Inserts or replaces `id`. `values` must already be prepared for the metric. */
  set(id: string, values: Float32Array, indexed: IndexedValues | undefined): void {
    let row = this.rowOf.get(id);
    if (row === undefined) {
      row = this.ids.length;
      this.ensureRow(row);
      this.ids.push(id);
      this.indexed.push(indexed);
      this.rowOf.set(id, row);
    } else {
      this.indexed[row] = indexed;
    }
    this.blocks[Math.floor(row / BLOCK_ROWS)]!.set(values, (row % BLOCK_ROWS) * this.dimensions);
  }

  /**
   * Makes room for `row`. The first block starts small and doubles up to BLOCK_ROWS (a tenant
   * namespace with a handful of vectors must not cost a full block); later blocks are full size.
   */
  private ensureRow(row: number): void {
    const dims = this.dimensions;
    const blockIndex = Math.floor(row / BLOCK_ROWS);
    const block = this.blocks[blockIndex];
    if (block === undefined) {
      this.blocks.push(new Float32Array((blockIndex === 0 ? MIN_FIRST_BLOCK_ROWS : BLOCK_ROWS) * dims));
    } else if ((row % BLOCK_ROWS) * dims >= block.length) {
      const grown = new Float32Array(Math.min(BLOCK_ROWS, (block.length / dims) * 2) * dims);
      grown.set(block);
      this.blocks[blockIndex] = grown;
    }
  }

  /** Removes `id` by moving the last row into its place; frees a trailing empty block. */
  delete(id: string): boolean {
    const row = this.rowOf.get(id);
    if (row === undefined) return false;
    const last = this.ids.length - 1;
    if (row !== last) {
      const lastId = this.ids[last]!;
      const dims = this.dimensions;
      const from = this.blocks[Math.floor(last / BLOCK_ROWS)]!;
      const to = this.blocks[Math.floor(row / BLOCK_ROWS)]!;
      const fromOffset = (last % BLOCK_ROWS) * dims;
      to.set(from.subarray(fromOffset, fromOffset + dims), (row % BLOCK_ROWS) * dims);
      this.ids[row] = lastId;
      this.indexed[row] = this.indexed[last];
      this.rowOf.set(lastId, row);
    }
    this.ids.pop();
    this.indexed.pop();
    this.rowOf.delete(id);
    if (this.ids.length % BLOCK_ROWS === 0) this.blocks.length = this.ids.length / BLOCK_ROWS;
    return true;
  }
}

/** Keeps the `capacity` entries with the highest key (a min-heap on key). */
class TopKHeap {
  readonly keys: Float64Array;
  readonly ids: string[] = [];
  size = 0;

  constructor(readonly capacity: number) {
    this.keys = new Float64Array(capacity);
  }

  offer(key: number, id: string): void {
    if (this.size < this.capacity) {
      let i = this.size++;
      // Sift up.
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (this.keys[parent]! <= key) break;
        this.keys[i] = this.keys[parent]!;
        this.ids[i] = this.ids[parent]!;
        i = parent;
      }
      this.keys[i] = key;
      this.ids[i] = id;
      return;
    }
    if (key <= this.keys[0]!) return;
    // Replace the root and sift down.
    let i = 0;
    const n = this.size;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.keys[right]! < this.keys[left]! ? right : left;
      if (this.keys[child]! >= key) break;
      this.keys[i] = this.keys[child]!;
      this.ids[i] = this.ids[child]!;
      i = child;
    }
    this.keys[i] = key;
    this.ids[i] = id;
  }
}

export interface ScoredId {
  id: string;
  score: number;
}

export interface SearchOptions {
  topK: number;
  /** Search only this namespace; undefined searches every namespace. */
  namespace?: string;
  filter?: CompiledFilter;
}

/** All vectors of one index, by namespace, with exact search. */
export class VectorMatrix {
  private readonly segments = new Map<string, VectorSegment>();
  private readonly segmentOf = new Map<string, VectorSegment>();

  constructor(
    readonly dimensions: number,
    readonly metric: VectorizeDistanceMetric,
  ) {}

  get size(): number {
    return this.segmentOf.size;
  }

  has(id: string): boolean {
    return this.segmentOf.has(id);
  }

  namespaceOf(id: string): string | undefined {
    return this.segmentOf.get(id)?.namespace;
  }

  indexedOf(id: string): IndexedValues | undefined {
    return this.segmentOf.get(id)?.indexedOf(id);
  }

  /** Bytes held by the float32 blocks (the dominant cost). */
  allocatedBytes(): number {
    let bytes = 0;
    for (const segment of this.segments.values()) {
      for (const block of segment.blocks) bytes += block.byteLength;
    }
    return bytes;
  }

  /** Inserts or replaces `id` (moving it if its namespace changed). */
  set(id: string, namespace: string | undefined, values: Float32Array, indexed: IndexedValues | undefined): void {
    const key = namespace ?? NO_NAMESPACE;
    let segment = this.segments.get(key);
    const current = this.segmentOf.get(id);
    if (current !== undefined && current !== segment) this.delete(id);
    if (segment === undefined) {
      segment = new VectorSegment(this.dimensions, namespace);
      this.segments.set(key, segment);
    }
    segment.set(id, this.metric === "cosine" ? normalised(values, Float32Array) : values, indexed);
    this.segmentOf.set(id, segment);
  }

  delete(id: string): boolean {
    const segment = this.segmentOf.get(id);
    if (segment === undefined) return false;
    segment.delete(id);
    this.segmentOf.delete(id);
    if (segment.size === 0) {
      for (const [key, value] of this.segments) if (value === segment) this.segments.delete(key);
    }
    return true;
  }

  /** The `topK` closest vectors (after namespace then filter), closest first. */
  search(query: Float64Array, options: SearchOptions): ScoredId[] {
    const dims = this.dimensions;
    const metric = this.metric;
    const q = metric === "cosine" ? normalised(query, Float64Array) : query;
    const heap = new TopKHeap(options.topK);
    const filter = options.filter;
    const scope =
      options.namespace === undefined
        ? [...this.segments.values()]
        : [this.segments.get(options.namespace)].filter((s): s is VectorSegment => s !== undefined);

    for (const segment of scope) {
      const size = segment.size;
      for (let row = 0; row < size; row++) {
        if (filter !== undefined && !filter.matches(segment.indexed[row])) continue;
        const block = segment.blocks[Math.floor(row / BLOCK_ROWS)]!;
        const base = (row % BLOCK_ROWS) * dims;
        let key = 0;
        if (metric === "euclidean") {
          for (let i = 0; i < dims; i++) {
            const d = q[i]! - block[base + i]!;
            key += d * d;
          }
          key = -key; // the heap keeps the highest keys
        } else {
          for (let i = 0; i < dims; i++) key += q[i]! * block[base + i]!;
        }
        heap.offer(key, segment.ids[row]!);
      }
    }

    const out: { id: string; key: number }[] = [];
    for (let i = 0; i < heap.size; i++) out.push({ id: heap.ids[i]!, key: heap.keys[i]! });
    out.sort((a, b) => b.key - a.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out.map(({ id, key }) => ({
      id,
      score: metric === "cosine" ? key : metric === "euclidean" ? Math.sqrt(-key) : -key,
    }));
  }
}

function normalised<T extends Float32Array | Float64Array>(values: ArrayLike<number>, kind: { new (length: number): T }): T {
  let norm = 0;
  for (let i = 0; i < values.length; i++) norm += values[i]! * values[i]!;
  norm = Math.sqrt(norm);
  const out = new kind(values.length);
  // A zero vector has no direction: it stays zero and scores 0 against everything.
  if (norm === 0) return out;
  for (let i = 0; i < values.length; i++) out[i] = values[i]! / norm;
  return out;
}
