import type { Bindings } from "./app-env";
import { createApiKeyStore, type ApiKeyStore } from "./auth/api-key-store";
import type { Config } from "./config";
import { createOriginClient, type OriginClient } from "./origin/origin-client";
import { createBindingRateLimiter } from "./rate-limit/binding-rate-limiter";
import type { RateLimiter } from "./rate-limit/rate-limiter";
import { createUpstashRateLimiter } from "./rate-limit/upstash-rate-limiter";
import { guardD1 } from "./store/guarded-d1";
import { createLocalVectorize } from "./vector/create-local-vectorize";
import { guardVectorIndex } from "./vector/vector-index";

/**
 * The adapters behind every port, chosen once per isolate from the bindings: production gets
 * Vectorize and Upstash, local dev and tests the Durable Object index and the Redis bridge (or
 * the Workers rate-limiting bindings when no Redis is configured).
 */
export interface Services {
  db: D1Database;
  vectors: Vectorize;
  origin: OriginClient;
  rateLimiter: RateLimiter;
  apiKeys: ApiKeyStore;
}

/** The [[ratelimits]] limits of wrangler.toml (the binding cannot report them). */
export const RATE_LIMIT_BINDING_LIMITS = { query: 120, ingest: 30, auth: 10 } as const;

const built = new WeakMap<object, Services>();

export function getServices(env: Bindings, config: Config): Services {
  let services = built.get(env);
  if (services) return services;
  const db = guardD1(env.DB);
  services = {
    db,
    vectors: guardVectorIndex((env.VECTORIZE as unknown as Vectorize | undefined) ?? localVectorIndex(env, config)),
    origin: createOriginClient(config),
    rateLimiter: config.UPSTASH_REDIS_REST_URL
      ? createUpstashRateLimiter(config)
      : createBindingRateLimiter({ query: env.RATE_LIMITER_QUERY, ingest: env.RATE_LIMITER_INGEST, auth: env.RATE_LIMITER_AUTH }, RATE_LIMIT_BINDING_LIMITS),
    apiKeys: createApiKeyStore(db, { cacheTtlMs: config.API_KEY_CACHE_TTL_SECONDS * 1000 }),
  };
  built.set(env, services);
  return services;
}

function localVectorIndex(env: Bindings, config: Config): Vectorize {
  if (!env.VECTOR_INDEX_DO) throw new Error("neither VECTORIZE nor VECTOR_INDEX_DO is bound");
  return createLocalVectorize(env.VECTOR_INDEX_DO, {
    indexName: "edge-rag",
    dimensions: config.EMBEDDING_DIMENSIONS,
    metric: config.VECTOR_METRIC,
    metadataIndexes: config.VECTORIZE_METADATA_INDEXES,
  });
}
