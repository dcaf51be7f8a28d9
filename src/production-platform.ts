import type { Bindings } from "./bindings";
import type { Config } from "./config";
import { createWorkersAiFallback } from "./embedding/workers-ai-embedder";
import type { PlatformAdapters } from "./services";

/**
 * The deployed platform adapters, shared by the front (index.ts) and the query backend
 * (backend.ts): Vectorize is the vector index, and Workers AI embeds the queries no origin can
 * (WORKERS_AI_EMBEDDING_MODEL, the origin's model family).
 */
export const productionPlatform = (env: Bindings, config: Config): PlatformAdapters => {
  if (!env.VECTORIZE) throw new Error("the VECTORIZE binding is missing: bind the Vectorize index in wrangler.toml");
  return { vectors: env.VECTORIZE, queryEmbeddingFallback: createWorkersAiFallback(env.AI, config) };
};
