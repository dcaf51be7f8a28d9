/**
 * The Vectorize conformance suite against REAL Vectorize indexes (one per metric), bound through
 * wrangler remote bindings. Run only with test/conformance/vitest.remote.config.ts; see
 * docs/vectorize-conformance.md for the one-time index setup.
 */
import { env } from "cloudflare:workers";
import { CONFORMANCE_METADATA_INDEXES, describeVectorizeConformance } from "./vectorize.suite";

/** Must match `--dimensions` of the indexes created for the run. */
const DIMENSIONS = 16;

const bindings = env as unknown as Record<string, Vectorize | undefined>;
const targets = [
  ["cosine", "VECTORIZE_CONFORMANCE_COSINE"],
  ["euclidean", "VECTORIZE_CONFORMANCE_EUCLIDEAN"],
  ["dot-product", "VECTORIZE_CONFORMANCE_DOT_PRODUCT"],
] as const;

for (const [metric, binding] of targets) {
  describeVectorizeConformance(
    `Vectorize ${binding} (${metric})`,
    async () => {
      const index = bindings[binding];
      if (index === undefined) throw new Error(`${binding} is not bound: see docs/vectorize-conformance.md`);
      const info = await index.describe();
      if (info.dimensions !== DIMENSIONS) {
        throw new Error(`${binding} has ${info.dimensions} dimensions; create it with --dimensions=${DIMENSIONS}`);
      }
      return { index, dimensions: DIMENSIONS, metric, metadataIndexes: CONFORMANCE_METADATA_INDEXES, cleanup: async () => {} };
    },
    // "It typically takes a few seconds for inserted vectors to be available for querying."
    { eventualConsistency: { timeoutMs: 60_000, pollMs: 1_000 } },
  );
}
