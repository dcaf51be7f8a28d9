import type { Bindings } from "./bindings";
import type { Config } from "./config";
import { createWorkersAiFallback } from "./embedding/workers-ai-embedder";
import { type PlatformAdapters, servicesFactory } from "./services";
import { createWorker } from "./worker";

/**
 * The production (and staging) entry: Vectorize is the vector index, and Workers AI embeds the
 * queries no origin can (WORKERS_AI_EMBEDDING_MODEL, the origin's model family). The local
 * stand-ins are not imported here, so they are not in the deployed bundle (test/tools/deploy.test.ts
 * checks).
 */
export const productionPlatform = (env: Bindings, config: Config): PlatformAdapters => {
  if (!env.VECTORIZE) throw new Error("the VECTORIZE binding is missing: bind the Vectorize index in wrangler.toml");
  return { vectors: env.VECTORIZE, queryEmbeddingFallback: createWorkersAiFallback(env.AI, config) };
};

export default createWorker(servicesFactory(productionPlatform));

export { TenantData } from "./tenant/tenant-data";
