import { VectorIndexError } from "../errors";

/**
 * Port: the dense vector index.
 *
 * The port IS Cloudflare's `Vectorize` (V2) binding type from @cloudflare/workers-types; there is no
 * wrapper interface, so production code uses the real binding unchanged and the local adapter
 * (`createLocalVectorize`, a Durable Object) must be indistinguishable from it. One conformance suite
 * (test/conformance/vectorize.suite.ts) runs against both.
 *
 * What the worker may rely on:
 * - Consistency: mutations (insert/upsert/deleteByIds) return `{ mutationId }` and are applied
 *   asynchronously; in production they become visible to query/getByIds typically within a few
 *   seconds, locally before the promise resolves. Code must not assume read-your-writes; wait for
 *   `describe().processedUpToMutation` or poll when it matters (tests: `eventually()`).
 * - insert never overwrites an existing id (the first write wins, no error); upsert replaces the
 *   whole vector (values, metadata, namespace).
 * - A query with `namespace` only ever returns vectors of that namespace; filters apply before
 *   topK; filtering needs a metadata index that existed when the vector was written.
 * - Limits and errors are Vectorize's (see vectorize-limits.ts); invalid input rejects with
 *   `VECTOR_<OP>_ERROR (code = n): message`.
 * Failure mode: calls reject (network/service errors in production, Durable Object errors
 * locally); callers degrade to keyword retrieval rather than failing the request.
 * Latency budget: query p50 ≈ tens of ms in production; locally ≈ 1 ms per 1k × 512 vectors searched.
 */
export type VectorIndex = Vectorize;

/** The `describe()` result as Vectorize actually sends it (workers-types declares both fields as number). */
export interface VectorIndexInfo {
  vectorCount: number;
  dimensions: number;
  /** ISO 8601 time of the last processed mutation; null before the first mutation. */
  processedUpToDatetime: string | null;
  /** `mutationId` of the last processed mutation; null before the first mutation. */
  processedUpToMutation: string | null;
}

/** Reads `describe()` with the field types Vectorize actually returns. */
export async function describeVectorIndex(index: VectorIndex): Promise<VectorIndexInfo> {
  return (await index.describe()) as unknown as VectorIndexInfo;
}

/**
 * The index with one failure type: every rejection becomes `VectorIndexError` (the binding's error
 * kept as `cause` for the logs), so callers branch on a class, not on Vectorize's message text.
 * The adapters themselves stay exactly like the binding (the conformance suite checks their errors).
 */
export function guardVectorIndex(index: VectorIndex): VectorIndex {
  const guard =
    <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (error) {
        throw new VectorIndexError(operation, error);
      }
    };
  return {
    describe: guard("describe", () => index.describe()),
    query: guard("query", (vector: VectorFloatArray | number[], options?: VectorizeQueryOptions) => index.query(vector, options)),
    queryById: guard("query", (id: string, options?: VectorizeQueryOptions) => index.queryById(id, options)),
    insert: guard("write", (vectors: VectorizeVector[]) => index.insert(vectors)),
    upsert: guard("write", (vectors: VectorizeVector[]) => index.upsert(vectors)),
    deleteByIds: guard("delete", (ids: string[]) => index.deleteByIds(ids)),
    getByIds: guard("read", (ids: string[]) => index.getByIds(ids)),
  } as VectorIndex;
}
