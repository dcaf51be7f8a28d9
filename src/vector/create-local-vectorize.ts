/**
 * Adapter: the `Vectorize` (V2) binding surface on top of the LocalVectorIndex Durable Object.
 *
 *   const index: Vectorize = env.VECTORIZE ?? createLocalVectorize(env.VECTOR_INDEX_DO, {
 *     indexName: "edge-rag", dimensions: 512, metric: "cosine",
 *     metadataIndexes: { tenant: "string" },
 *   });
 *
 * Promises: every argument is validated here with Vectorize's documented limits before any RPC,
 * and invalid input rejects with the binding's own error shape
 * (`VECTOR_QUERY_ERROR (code = 40006): ...`); mutations resolve with a fresh `mutationId` once
 * they are durable and visible (a legal, zero-delay instance of Vectorize's eventual
 * consistency), and `describe().processedUpToMutation` names the last one.
 * Failure modes: Vectorize errors as above; `LOCAL_VECTORIZE_ERROR` when the local memory
 * ceiling is reached or the index is reopened with other dimensions/metric; Durable Object
 * errors (e.g. an overloaded object) propagate unchanged.
 * Latency budget: one Durable Object RPC per call (local: ~1 ms) plus brute-force search
 * (≈ 1 ms per 1k × 512 vectors in the namespace searched).
 */
import type { LocalIndexConfig, LocalVectorIndex } from "./local-vector-index";
import type { MetadataIndexes } from "./metadata-filter";
import { VECTORIZE_LIMITS } from "./vectorize-limits";
import { validateIds, validateQueryOptions, validateQueryVector, validateVectors } from "./vectorize-validation";

export interface LocalVectorizeOptions {
  /** Name of the index; one Durable Object per name. */
  indexName: string;
  /** Fixed at creation, 1..1536. */
  dimensions: number;
  /** Fixed at creation. */
  metric: VectorizeDistanceMetric;
  /**
   * Metadata indexes (at most 10), like `wrangler vectorize create-metadata-index`. Adding one later
   * indexes only vectors written afterwards, as in Vectorize.
   */
  metadataIndexes?: MetadataIndexes;
  /** Most vectors the local index accepts; default: what fits in 96 MiB of matrix memory. */
  capacity?: number;
}

const METRICS: readonly VectorizeDistanceMetric[] = ["cosine", "euclidean", "dot-product"];
const INDEX_TYPES = new Set(["string", "number", "boolean"]);

function checkOptions(options: LocalVectorizeOptions): void {
  const { indexName, dimensions, metric, metadataIndexes = {} } = options;
  if (typeof indexName !== "string" || indexName.length === 0 || new TextEncoder().encode(indexName).length > 64) {
    throw new TypeError("createLocalVectorize: indexName must be 1..64 bytes");
  }
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > VECTORIZE_LIMITS.maxDimensions) {
    throw new TypeError(`createLocalVectorize: dimensions must be an integer in 1..${VECTORIZE_LIMITS.maxDimensions}`);
  }
  if (!METRICS.includes(metric)) {
    throw new TypeError(`createLocalVectorize: metric must be one of ${METRICS.join(", ")}`);
  }
  const entries = Object.entries(metadataIndexes);
  if (entries.length > VECTORIZE_LIMITS.maxMetadataIndexes) {
    throw new TypeError(`createLocalVectorize: at most ${VECTORIZE_LIMITS.maxMetadataIndexes} metadata indexes`);
  }
  for (const [property, type] of entries) {
    if (property.length === 0 || property.split(".").some((s) => s.length === 0) || !INDEX_TYPES.has(type)) {
      throw new TypeError(`createLocalVectorize: invalid metadata index ${JSON.stringify(property)}: ${String(type)}`);
    }
  }
}

/** The Durable Object that holds index `indexName` (one object per index). For tests and tooling. */
export function localVectorIndexStub(
  namespace: DurableObjectNamespace<LocalVectorIndex>,
  indexName: string,
): DurableObjectStub<LocalVectorIndex> {
  return namespace.get(namespace.idFromName(`vector-index:${indexName}`));
}

/**
 * Creates a `Vectorize` backed by the LocalVectorIndex Durable Object named `options.indexName`.
 * Throws a TypeError synchronously for an invalid configuration.
 */
export function createLocalVectorize(namespace: DurableObjectNamespace<LocalVectorIndex>, options: LocalVectorizeOptions): Vectorize {
  checkOptions(options);
  const config: LocalIndexConfig = {
    indexName: options.indexName,
    dimensions: options.dimensions,
    metric: options.metric,
    metadataIndexes: { ...options.metadataIndexes },
    ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
  };
  const { dimensions } = config;
  const stub = () => localVectorIndexStub(namespace, options.indexName);

  const index = {
    async describe(): Promise<VectorizeIndexInfo> {
      // Vectorize returns an ISO string and a UUID here; workers-types types both as number.
      return (await stub().describe(config)) as unknown as VectorizeIndexInfo;
    },
    async query(vector: VectorFloatArray | number[], options?: VectorizeQueryOptions): Promise<VectorizeMatches> {
      const validOptions = validateQueryOptions(options);
      const query = validateQueryVector(vector, dimensions);
      return (await stub().query(config, query, validOptions)) as VectorizeMatches;
    },
    async queryById(vectorId: string, options?: VectorizeQueryOptions): Promise<VectorizeMatches> {
      const validOptions = validateQueryOptions(options);
      return (await stub().queryById(config, String(vectorId), validOptions)) as VectorizeMatches;
    },
    async insert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
      return stub().insert(config, validateVectors("VECTOR_INSERT", vectors, dimensions));
    },
    async upsert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
      return stub().upsert(config, validateVectors("VECTOR_UPSERT", vectors, dimensions));
    },
    async getByIds(ids: string[]): Promise<VectorizeVector[]> {
      return (await stub().getByIds(config, validateIds("VECTOR_GET", ids))) as VectorizeVector[];
    },
    async deleteByIds(ids: string[]): Promise<VectorizeAsyncMutation> {
      return stub().deleteByIds(config, validateIds("VECTOR_DELETE", ids));
    },
  } satisfies Vectorize;
  return index;
}
