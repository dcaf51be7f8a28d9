/**
 * LocalVectorIndex — a Vectorize-compatible vector index as a SQLite-backed Durable Object.
 *
 * Used wherever the real Vectorize binding is absent (`npm start`, tests, CI); the worker never
 * calls it directly but through `createLocalVectorize()`, which validates input exactly like the
 * Vectorize binding and then calls the RPC methods below.
 *
 * Design (one Durable Object per index, not per namespace): Vectorize ids are unique across the
 * whole index (getByIds/deleteByIds take no namespace; upsert can move an id to another namespace)
 * and a query without a namespace searches every namespace. One object per index keeps one writer,
 * one transaction per mutation and no cross-object fan-out; the price is that all queries of an
 * index run on one thread, which is fine for local use (a 30k × 512 query is tens of ms).
 *
 * Storage: `vectors(id, namespace, vals BLOB float32, metadata JSON, seq)` in the object's SQLite,
 * so data survives restarts and eviction. Every mutation is one `transactionSync` and bumps `seq`.
 * A metadata index remembers the `seq` at which it was created: only vectors written after it are
 * indexed, exactly as Vectorize documents ("vectors upserted before a metadata index was created
 * won't have their metadata contained in that index"). Configured indexes are created when missing
 * and never dropped implicitly (there is no delete-metadata-index locally; a changed type recreates).
 *
 * Memory: an in-memory float32 matrix per namespace (vector-search.ts), built lazily from SQLite
 * on the first call after a (re)start and safe to lose. It costs 4 × dimensions bytes per vector
 * plus ~256 B of bookkeeping; the default capacity keeps that under 96 MiB of the 128 MB isolate
 * (≈ 43k vectors at 512 dims, ≈ 28k at 768, ≈ 15k at 1536). A write past the capacity fails with
 * LOCAL_VECTORIZE_ERROR instead of crashing the isolate.
 *
 * Latency: mutations and queries are synchronous SQLite + CPU work (no awaits), so each RPC call is
 * atomic; a mutation is visible to the next call. First call after a restart pays the rebuild
 * (≈ 1 s per 30k × 512 vectors).
 */
import { DurableObject } from "cloudflare:workers";
import { compileFilter, extractIndexedValues, indexedValuesToMetadata, type MetadataIndexes } from "./metadata-filter";
import { VectorMatrix } from "./vector-matrix";
import { localVectorizeError, vectorizeError } from "./vectorize-errors";
import { VECTORIZE_LIMITS, type VectorizeMetadataIndexType } from "./vectorize-limits";
import type { ValidQueryOptions, ValidVector } from "./vectorize-validation";

/** The index configuration every RPC call carries; the first call creates the index with it. */
export interface LocalIndexConfig {
  indexName: string;
  dimensions: number;
  metric: VectorizeDistanceMetric;
  metadataIndexes: Readonly<Record<string, VectorizeMetadataIndexType>>;
  /** Most vectors the index accepts; defaults to what fits in DEFAULT_MEMORY_BUDGET_BYTES. */
  capacity?: number;
}

/** The describe() result; Vectorize's wire format (ISO string / UUID), which workers-types mistypes as number. */
export interface LocalIndexInfo {
  vectorCount: number;
  dimensions: number;
  processedUpToDatetime: string | null;
  processedUpToMutation: string | null;
}

/** Bytes of the isolate the in-memory matrix may use by default. */
export const DEFAULT_MEMORY_BUDGET_BYTES = 96 * 1024 * 1024;
/** Approximate per-vector bookkeeping besides the values (id, maps, indexed metadata). */
const PER_VECTOR_OVERHEAD_BYTES = 256;

/** Vectors of `dimensions` that fit in `budgetBytes` of matrix memory. */
export function defaultCapacity(dimensions: number, budgetBytes = DEFAULT_MEMORY_BUDGET_BYTES): number {
  return Math.floor(budgetBytes / (dimensions * 4 + PER_VECTOR_OVERHEAD_BYTES));
}

type VectorRow = { id: string; namespace: string | null; vals: ArrayBuffer; metadata: string | null; seq: number };

function toBlob(values: Float32Array): ArrayBuffer {
  return values.byteOffset === 0 && values.byteLength === values.buffer.byteLength
    ? (values.buffer as ArrayBuffer)
    : (values.slice().buffer as ArrayBuffer);
}

export class LocalVectorIndex extends DurableObject<unknown> {
  private readonly sql: SqlStorage;
  /** Cache safe to lose: rebuilt from SQLite on demand. */
  private matrix: VectorMatrix | undefined;
  private metadataIndexes = new Map<string, { type: VectorizeMetadataIndexType; createdSeq: number }>();
  private lastConfigKey: string | undefined;
  private capacity = 0;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS vectors (
        id TEXT PRIMARY KEY,
        namespace TEXT,
        vals BLOB NOT NULL,
        metadata TEXT,
        seq INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS index_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS metadata_indexes (
        property TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        created_seq INTEGER NOT NULL
      );
    `);
  }

  // ---- RPC surface (inputs are validated by createLocalVectorize) ----

  describe(config: LocalIndexConfig): LocalIndexInfo {
    const matrix = this.open(config);
    return {
      vectorCount: matrix.size,
      dimensions: config.dimensions,
      processedUpToDatetime: this.state("last_mutation_at"),
      processedUpToMutation: this.state("last_mutation_id"),
    };
  }

  query(config: LocalIndexConfig, vector: Float64Array, options: ValidQueryOptions): VectorizeMatches {
    const matrix = this.open(config);
    if (vector.length !== config.dimensions) {
      throw vectorizeError("VECTOR_QUERY", `invalid query vector, expected ${config.dimensions} dimensions`, 40006);
    }
    return this.search(matrix, vector, options);
  }

  queryById(config: LocalIndexConfig, vectorId: string, options: ValidQueryOptions): VectorizeMatches {
    const matrix = this.open(config);
    const row = this.sql.exec<{ vals: ArrayBuffer }>("SELECT vals FROM vectors WHERE id = ?", vectorId).toArray()[0];
    if (row === undefined) return { matches: [], count: 0 };
    return this.search(matrix, Float64Array.from(new Float32Array(row.vals)), options);
  }

  insert(config: LocalIndexConfig, vectors: ValidVector[]): VectorizeAsyncMutation {
    const matrix = this.open(config);
    // Insert never overwrites: an id already in the index (or earlier in this batch) is skipped.
    const fresh = new Map<string, ValidVector>();
    for (const vector of vectors) {
      if (!matrix.has(vector.id) && !fresh.has(vector.id)) fresh.set(vector.id, vector);
    }
    return this.write("VECTOR_INSERT", config, matrix, [...fresh.values()]);
  }

  upsert(config: LocalIndexConfig, vectors: ValidVector[]): VectorizeAsyncMutation {
    const matrix = this.open(config);
    // Upsert replaces in full; within a batch the last occurrence of an id wins.
    const latest = new Map<string, ValidVector>();
    for (const vector of vectors) latest.set(vector.id, vector);
    return this.write("VECTOR_UPSERT", config, matrix, [...latest.values()]);
  }

  deleteByIds(config: LocalIndexConfig, ids: string[]): VectorizeAsyncMutation {
    const matrix = this.open(config);
    const present = [...new Set(ids)].filter((id) => matrix.has(id));
    const mutation = this.ctx.storage.transactionSync(() => {
      for (const id of present) this.sql.exec("DELETE FROM vectors WHERE id = ?", id);
      return this.recordMutation();
    });
    for (const id of present) matrix.delete(id);
    return { mutationId: mutation };
  }

  getByIds(config: LocalIndexConfig, ids: string[]): VectorizeVector[] {
    this.open(config);
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const rows = this.rowsById(unique);
    return unique.flatMap((id) => {
      const row = rows.get(id);
      if (row === undefined) return [];
      const vector: VectorizeVector = { id, values: Array.from(new Float32Array(row.vals)) };
      if (row.namespace !== null) vector.namespace = row.namespace;
      if (row.metadata !== null) vector.metadata = JSON.parse(row.metadata) as Record<string, VectorizeVectorMetadata>;
      return [vector];
    });
  }

  /** Diagnostics for tests and the benchmark: whether the cache is built and what it holds. */
  memoryStats(): { cached: boolean; vectors: number; capacity: number; matrixBytes: number } {
    const vectors = this.matrix?.size ?? 0;
    return {
      cached: this.matrix !== undefined,
      vectors,
      capacity: this.capacity,
      matrixBytes: this.matrix === undefined ? 0 : this.matrix.allocatedBytes(),
    };
  }

  // ---- internals ----

  private state(key: string): string | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM index_state WHERE key = ?", key).toArray()[0];
    return row?.value ?? null;
  }

  private setState(key: string, value: string): void {
    this.sql.exec("INSERT INTO index_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
  }

  private currentSeq(): number {
    return Number(this.state("seq") ?? "0");
  }

  /** Bumps the mutation sequence; call inside the mutation's transaction. */
  private recordMutation(): string {
    const mutationId = crypto.randomUUID();
    this.setState("seq", String(this.currentSeq() + 1));
    this.setState("last_mutation_id", mutationId);
    this.setState("last_mutation_at", new Date().toISOString());
    return mutationId;
  }

  /** Applies the configuration (creating the index on first use) and returns the loaded matrix. */
  private open(config: LocalIndexConfig): VectorMatrix {
    const key = JSON.stringify([config.dimensions, config.metric, config.metadataIndexes, config.capacity]);
    if (key !== this.lastConfigKey) {
      this.applyConfig(config);
      this.lastConfigKey = key;
    }
    this.matrix ??= this.load(config);
    return this.matrix;
  }

  private applyConfig(config: LocalIndexConfig): void {
    this.capacity = config.capacity ?? defaultCapacity(config.dimensions);
    this.ctx.storage.transactionSync(() => {
      const dimensions = this.state("dimensions");
      const metric = this.state("metric");
      if (dimensions === null || metric === null) {
        this.setState("name", config.indexName);
        this.setState("dimensions", String(config.dimensions));
        this.setState("metric", config.metric);
      } else if (Number(dimensions) !== config.dimensions || metric !== config.metric) {
        // "The configuration of an index cannot be changed after creation."
        throw localVectorizeError(
          `index "${config.indexName}" was created with dimensions=${dimensions} metric=${metric}; ` +
            `it cannot be reconfigured to dimensions=${config.dimensions} metric=${config.metric}`,
        );
      }

      const stored = new Map(
        this.sql
          .exec<{ property: string; type: string; created_seq: number }>("SELECT * FROM metadata_indexes")
          .toArray()
          .map((row) => [row.property, row] as const),
      );
      // Like `wrangler vectorize create-metadata-index`, configured indexes are created if missing
      // (additive: an index another adapter configured is kept). A changed type recreates it.
      const seq = this.currentSeq();
      let changed = false;
      for (const [property, type] of Object.entries(config.metadataIndexes)) {
        const current = stored.get(property);
        if (current?.type === type) continue;
        if (current === undefined && stored.size >= VECTORIZE_LIMITS.maxMetadataIndexes) {
          throw localVectorizeError(
            `index "${config.indexName}" already has ${stored.size} metadata indexes; Vectorize allows ${VECTORIZE_LIMITS.maxMetadataIndexes}`,
          );
        }
        // Created now: only vectors written by later mutations are indexed.
        this.sql.exec(
          `INSERT INTO metadata_indexes (property, type, created_seq) VALUES (?, ?, ?)
           ON CONFLICT(property) DO UPDATE SET type = excluded.type, created_seq = excluded.created_seq`,
          property,
          type,
          seq,
        );
        stored.set(property, { property, type, created_seq: seq });
        changed = true;
      }
      if (changed) this.matrix = undefined;
      this.metadataIndexes = new Map(
        this.sql
          .exec<{ property: string; type: VectorizeMetadataIndexType; created_seq: number }>("SELECT * FROM metadata_indexes")
          .toArray()
          .map((row) => [row.property, { type: row.type, createdSeq: row.created_seq }] as const),
      );
    });
  }

  /** The metadata indexes that existed before the mutation with sequence `seq`. */
  private indexesAt(seq: number): MetadataIndexes {
    const out: Record<string, VectorizeMetadataIndexType> = {};
    for (const [property, { type, createdSeq }] of this.metadataIndexes) {
      if (createdSeq < seq) out[property] = type;
    }
    return out;
  }

  private load(config: LocalIndexConfig): VectorMatrix {
    const matrix = new VectorMatrix(config.dimensions, config.metric);
    const hasIndexes = this.metadataIndexes.size > 0;
    for (const row of this.sql.exec<VectorRow>("SELECT id, namespace, vals, metadata, seq FROM vectors")) {
      const metadata = hasIndexes && row.metadata !== null ? (JSON.parse(row.metadata) as Record<string, unknown>) : undefined;
      matrix.set(row.id, row.namespace ?? undefined, new Float32Array(row.vals), extractIndexedValues(metadata, this.indexesAt(row.seq)));
    }
    return matrix;
  }

  private write(
    op: "VECTOR_INSERT" | "VECTOR_UPSERT",
    config: LocalIndexConfig,
    matrix: VectorMatrix,
    vectors: ValidVector[],
  ): VectorizeAsyncMutation {
    const added = vectors.filter((v) => !matrix.has(v.id)).length;
    if (matrix.size + added > this.capacity) {
      throw localVectorizeError(
        `index "${config.indexName}" is full: ${matrix.size} + ${added} vectors exceeds the local capacity of ` +
          `${this.capacity} (${config.dimensions} dimensions in a 128 MB Durable Object)`,
      );
    }
    for (const vector of vectors) {
      if (vector.values.length !== config.dimensions) {
        throw vectorizeError(op, `invalid vector for id="${vector.id}", expected ${config.dimensions} dimensions`, 40012);
      }
    }
    const seq = this.currentSeq() + 1;
    const mutationId = this.ctx.storage.transactionSync(() => {
      for (const vector of vectors) {
        this.sql.exec(
          `INSERT INTO vectors (id, namespace, vals, metadata, seq) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET namespace = excluded.namespace, vals = excluded.vals,
             metadata = excluded.metadata, seq = excluded.seq`,
          vector.id,
          vector.namespace ?? null,
          toBlob(vector.values),
          vector.metadata === undefined ? null : JSON.stringify(vector.metadata),
          seq,
        );
      }
      return this.recordMutation();
    });
    const indexes = this.indexesAt(seq);
    for (const vector of vectors) {
      matrix.set(vector.id, vector.namespace, vector.values, extractIndexedValues(vector.metadata, indexes));
    }
    return { mutationId };
  }

  private rowsById(ids: string[]): Map<string, VectorRow> {
    const out = new Map<string, VectorRow>();
    // Chunked to stay well under SQLite's bound-parameter limit.
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      const rows = this.sql.exec<VectorRow>(
        `SELECT id, namespace, vals, metadata, seq FROM vectors WHERE id IN (${chunk.map(() => "?").join(",")})`,
        ...chunk,
      );
      for (const row of rows) out.set(row.id, row);
    }
    return out;
  }

  private search(matrix: VectorMatrix, vector: Float64Array, options: ValidQueryOptions): VectorizeMatches {
    const hits = matrix.search(vector, {
      topK: options.topK,
      namespace: options.namespace,
      filter: options.filter === undefined ? undefined : compileFilter(options.filter),
    });
    const needRows = options.returnValues || options.returnMetadata === "all";
    const rows = needRows && hits.length > 0 ? this.rowsById(hits.map((h) => h.id)) : undefined;
    const matches = hits.map(({ id, score }): VectorizeMatch => {
      const match: VectorizeMatch = { id, score };
      const namespace = matrix.namespaceOf(id);
      if (namespace !== undefined) match.namespace = namespace;
      const row = rows?.get(id);
      if (options.returnValues && row !== undefined) match.values = Array.from(new Float32Array(row.vals));
      if (options.returnMetadata === "all" && row?.metadata != null) {
        match.metadata = JSON.parse(row.metadata) as Record<string, VectorizeVectorMetadata>;
      } else if (options.returnMetadata === "indexed") {
        const indexed = matrix.indexedOf(id);
        if (indexed !== undefined) match.metadata = indexedValuesToMetadata(indexed);
      }
      return match;
    });
    return { matches, count: matches.length };
  }
}
