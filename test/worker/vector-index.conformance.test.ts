/**
 * Runs the Vectorize conformance suite against the local index: the real LocalVectorIndex Durable
 * Object with its real SQLite storage inside workerd, once per distance metric. The same suite runs
 * against a real Vectorize index with test/conformance/vitest.remote.config.ts.
 */
import { env } from "cloudflare:workers";
import { createLocalVectorize } from "../../src/vector/create-local-vectorize";
import { CONFORMANCE_METADATA_INDEXES, describeVectorizeConformance, uniqueName } from "../conformance/vectorize.suite";

const DIMENSIONS = 16;

for (const metric of ["cosine", "euclidean", "dot-product"] as const) {
  describeVectorizeConformance(
    `local Vectorize (${metric})`,
    async () => {
      const namespace = env.VECTOR_INDEX_DO;
      if (namespace === undefined) throw new Error("VECTOR_INDEX_DO binding missing from wrangler.toml");
      return {
        index: createLocalVectorize(namespace, {
          indexName: uniqueName(`conformance-${metric}`),
          dimensions: DIMENSIONS,
          metric,
          metadataIndexes: CONFORMANCE_METADATA_INDEXES,
        }),
        dimensions: DIMENSIONS,
        metric,
        metadataIndexes: CONFORMANCE_METADATA_INDEXES,
        cleanup: async () => {},
      };
    },
    // Local mutations are visible before they resolve: a wait that times out is a real bug.
    { eventualConsistency: { timeoutMs: 500, pollMs: 10 } },
  );
}
