/**
 * The Workers AI text-embedding models the query-embedding fallback can use, with the width of
 * their vectors (Cloudflare's model pages). All three take `{ text: string | string[], pooling }`
 * and answer `{ shape: [n, width], data: number[][] }`; they are the bge-*-en-v1.5 models that
 * TEI serves on the origin (production: bge-base, 768-d).
 */
export const WORKERS_AI_EMBEDDING_MODELS = [
  "@cf/baai/bge-small-en-v1.5",
  "@cf/baai/bge-base-en-v1.5",
  "@cf/baai/bge-large-en-v1.5",
] as const;

export type WorkersAiEmbeddingModel = (typeof WORKERS_AI_EMBEDDING_MODELS)[number];

export const WORKERS_AI_EMBEDDING_DIMENSIONS: Record<WorkersAiEmbeddingModel, number> = {
  "@cf/baai/bge-small-en-v1.5": 384,
  "@cf/baai/bge-base-en-v1.5": 768,
  "@cf/baai/bge-large-en-v1.5": 1024,
};
