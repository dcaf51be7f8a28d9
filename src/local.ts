import type { Bindings } from "./bindings";
import type { Config } from "./config";
import { queryBackendEntrypoint } from "./query/query-backend";
import { servicesFactory } from "./services";
import { createLocalVectorize } from "./vector/create-local-vectorize";
import { withWan } from "./wan/wan-worker";
import { createWorker } from "./worker";

/**
 * The local entry (`npm start`, tests, CI): Vectorize has no local simulator, so a Durable Object
 * of this project stands in for it with the same surface, limits and filter semantics (one
 * conformance suite runs against both). wrangler.toml's top level points here; staging and
 * production point at index.ts.
 *
 * Under a WAN profile (`npm start -- --wan far`; src/wan/) this entry also puts every remote port at
 * the profile's distance and says in `Server-Timing` how many cross-region round trips a request
 * waited on. index.ts has none of it.
 */
export const localVectorIndex = (env: Bindings, config: Config) => {
  if (!env.VECTOR_INDEX_DO) throw new Error("the VECTOR_INDEX_DO binding is missing: the local entry needs the Durable Object index");
  return createLocalVectorize(env.VECTOR_INDEX_DO, {
    indexName: "edge-rag",
    dimensions: config.EMBEDDING_DIMENSIONS,
    metric: config.VECTOR_METRIC,
    metadataIndexes: config.VECTORIZE_METADATA_INDEXES,
  });
};

export const localServices = servicesFactory((env, config) => ({ vectors: localVectorIndex(env, config) }));

/** The miss path as its own entrypoint (query-backend.ts): wrangler.toml binds BACKEND to it, as production binds the backend Worker. */
export class QueryBackend extends queryBackendEntrypoint(localServices) {}

export default withWan(createWorker(localServices));

export { TenantData } from "./tenant/tenant-data";
export { LocalVectorIndex } from "./vector/local-vector-index";
