import { type ApiKeyStore, createApiKeyStore } from "./auth/api-key-store";
import { createRevokedTokenStore, type RevokedTokenStore } from "./auth/revoked-tokens";
import { createUserStore, type UserStore } from "./auth/user-store";
import type { Bindings } from "./bindings";
import type { CacheStats } from "./cache/cache-stats";
import { withEmbeddingCache } from "./cache/cached-embedder";
import { createCachedQueryService } from "./cache/cached-query-service";
import { createQueryCache } from "./cache/query-cache";
import { type ChatService, createChatService } from "./chat/chat-service";
import { createCollectionCatalog } from "./chat/collections";
import { createQuestionCondenser } from "./chat/condense";
import { type Config, loadConfig } from "./config";
import { createQueryEmbedder, type FallbackEmbedder } from "./embedding/query-embedder";
import { type BucketSyncService, createBucketSyncService } from "./ingest/bucket-sync";
import { createR2FileStore } from "./ingest/file-store";
import { createIngestService, type IngestService } from "./ingest/ingest-service";
import { createR2SourceBucket } from "./ingest/source-bucket";
import { createOrigins, type Origins } from "./origin/origin-client";
import { createQueryService, type QueryService } from "./query/query-service";
import { type QueryBackendMethods, remoteQueryService } from "./query/remote-query-service";
import { createBindingRateLimiter } from "./rate-limit/binding-rate-limiter";
import type { RateLimiter } from "./rate-limit/rate-limiter";
import { createUpstashRateLimiter } from "./rate-limit/upstash-rate-limiter";
import { createUpstashRedis, type UpstashTransportWrapper } from "./redis/upstash-redis";
import { createReranker } from "./rerank/create-reranker";
import { createRetriever } from "./retrieval/retrieve";
import { guardD1 } from "./store/guarded-d1";
import { createTenantLimitsStore, type TenantLimitsStore } from "./store/tenant-limits";
import { createTenantStore, type TenantStore, withCachedState } from "./store/tenant-store";
import { createTenantAdminService, type TenantAdminService } from "./tenant/tenant-admin";
import { type TenantDataFor, tenantDataFor } from "./tenant/tenant-data-port";
import { guardVectorIndex, type VectorIndex } from "./vector/vector-index";
import { createWebhookService, type WebhookService } from "./webhooks/webhook-service";

/**
 * Everything a request, a queue batch or a cron run uses, built once per isolate from the
 * bindings and the validated configuration: the adapters behind every port and the use cases
 * built on them (Unkey's `ServiceContext`). Routes reach them as `c.var.services`. The logger
 * (`logger.ts`; per request `c.var.log`, with its id) and the metrics (`metrics.ts`) are not here:
 * they depend on no binding, and an isolate has exactly one of each.
 */
export interface Services {
  config: Config;
  /** D1, the control plane (tenants, API keys, users), every failure a StoreUnavailable. */
  db: D1Database;
  /** A tenant's data plane: its object's RPC methods, every failure a StoreUnavailable. */
  tenantData: TenantDataFor;
  /** The vector index, every failure a VectorIndexError. */
  vectors: VectorIndex;
  /** The origin service: `forTenant(tenant)` for a tenant's calls, `probe` for readiness. */
  origin: Origins;
  rateLimiter: RateLimiter;
  apiKeys: ApiKeyStore;
  /** Users' token versions, roles and disabled state, for login tokens' revocation. */
  users: UserStore;
  /** Signed-out tokens (POST /v1/auth/logout). */
  revokedTokens: RevokedTokenStore;
  tenants: TenantStore;
  /** Each tenant's plan, rate limits and quotas (its `tenants` row over the configured defaults). */
  tenantLimits: TenantLimitsStore;
  /** The query use case behind the query cache. */
  query: QueryService;
  /** The query use case behind the colo's cache tiers: the regional tiers, then the miss; what the query backend runs (query-backend.ts). */
  queryNearData: QueryService;
  /** Conversations (POST /v1/chat/completions, MCP `ask` with history): condensed, then the query use case. */
  chat: ChatService;
  /** The ingest use case: accept, remove, index (the documents route, the queue consumer, fixtures). */
  ingest: IngestService;
  /** Bucket sync: a tenant's source in the SOURCES bucket, its runs (the queue consumer) and the cron. */
  bucketSync: BucketSyncService;
  /** The tenant's query cache hit counts. */
  cacheStats: CacheStats;
  /** Operators' use cases over whole tenants: delete one, copy one's rows from D1. */
  tenantAdmin: TenantAdminService;
  /** A tenant's webhooks and their deliveries (the routes, the webhook queue's consumer). */
  webhooks: WebhookService;
}

/**
 * The adapters that differ between the production and the local entry: production binds
 * Vectorize; locally (no Vectorize simulator exists) a Durable Object stands in for it.
 */
export interface PlatformAdapters {
  vectors: VectorIndex;
  /** Embeds the queries no origin could (production: Workers AI); none locally. */
  queryEmbeddingFallback?: FallbackEmbedder;
  /** Wraps every Upstash round trip (the local WAN delay layer, tests); production: none. */
  upstashTransport?: UpstashTransportWrapper;
}

/** Services for an environment; throws ConfigError when its configuration is invalid. */
export type ServicesFactory = (env: Bindings) => Services;

/** The [[ratelimits]] limits of wrangler.toml (the binding cannot report them). */
export const RATE_LIMIT_BINDING_LIMITS = { query: 120, ingest: 30, auth: 10 } as const;

/** `now` is the clock of every expiry in the services' caches: tests move it instead of sleeping. */
export function createServices(env: Bindings, config: Config, platform: PlatformAdapters, now: () => number = Date.now): Services {
  const db = guardD1(env.DB);
  const tenantLimits = createTenantLimitsStore(db, config);
  // Each tenant's object is created where its `tenants.region` says (read with its limits, cached in the isolate).
  const tenantData = tenantDataFor(env.TENANT_DATA, async (tenant) => {
    const { shards, region } = await tenantLimits.get(tenant);
    return { shards, region };
  });
  const vectors = guardVectorIndex(platform.vectors);
  // The originals of documents made from files (the query backend binds no bucket: it never needs one).
  const files = createR2FileStore(env.FILES);
  const origin = createOrigins(config);
  const tenantRows = createTenantStore(tenantData);
  // Cache keys read the tenant's index version and cache epoch from isolate memory
  // (INDEX_VERSION_CACHE_SECONDS), so that a hit costs no round trip to the tenant's object.
  const tenants = withCachedState(tenantRows, config.INDEX_VERSION_CACHE_SECONDS, now);
  const upstash = config.UPSTASH_REDIS_REST_URL ? upstashClients(config, platform.upstashTransport) : null;
  const queryCache = createQueryCache(env.KV, config, upstash, now);
  const embedder = withEmbeddingCache(
    createQueryEmbedder(origin, { fallback: platform.queryEmbeddingFallback, dimensions: config.EMBEDDING_DIMENSIONS }),
    {
      cache: queryCache.cache,
      tenantState: tenants.state,
      ttlSeconds: config.QUERY_EMBEDDING_CACHE_SECONDS,
      dimensions: config.EMBEDDING_DIMENSIONS,
    },
  );
  const answerCache = {
    tenantState: tenants.state,
    chunksStillIndexed: (tenant: string, ids: readonly string[]) => tenantData(tenant).chunksStillIndexed(ids),
    config,
    now,
  };
  // The answer cache's regional tiers around the real service (a computed answer reports the index
  // version it was retrieved from, read exactly); counted by the front layer.
  const queryNearData = createCachedQueryService({
    ...answerCache,
    inner: createQueryService({
      tenants: tenantRows,
      embedder,
      retriever: createRetriever(tenantData, vectors, config, createReranker(config, env.AI)),
      origin,
    }),
    cache: queryCache.region,
    stats: null,
  });
  const query = createCachedQueryService({
    ...answerCache,
    // Past the colo's tiers, a request runs next to the data when a backend is bound (query-backend.ts), here otherwise.
    inner: env.BACKEND ? remoteQueryService(env.BACKEND as unknown as QueryBackendMethods, queryNearData) : queryNearData,
    cache: queryCache.colo,
    stats: queryCache.stats,
  });
  const ingest = createIngestService({
    tenantData,
    files,
    vectors,
    origin,
    tenantLimits,
    tenants,
    queue: env.INGEST_QUEUE,
    stallSeconds: config.INGEST_STALL_SECONDS,
  });
  return {
    config,
    db,
    tenantData,
    vectors,
    origin,
    queryNearData,
    rateLimiter: upstash
      ? createUpstashRateLimiter(config, upstash.counters)
      : createBindingRateLimiter(
          { query: env.RATE_LIMITER_QUERY, ingest: env.RATE_LIMITER_INGEST, auth: env.RATE_LIMITER_AUTH },
          RATE_LIMIT_BINDING_LIMITS,
        ),
    apiKeys: createApiKeyStore(db, { cacheTtlMs: config.API_KEY_CACHE_TTL_SECONDS * 1000 }),
    users: createUserStore(db, { cacheTtlMs: config.API_KEY_CACHE_TTL_SECONDS * 1000 }),
    revokedTokens: createRevokedTokenStore(db, { cacheTtlMs: config.API_KEY_CACHE_TTL_SECONDS * 1000 }),
    tenants,
    tenantLimits,
    query,
    chat: createChatService({ query, condenser: createQuestionCondenser(origin), collections: createCollectionCatalog(tenantData) }),
    cacheStats: queryCache.stats,
    tenantAdmin: createTenantAdminService({ db, tenantData, vectors, tenants, files }),
    ingest,
    bucketSync: createBucketSyncService({
      tenantData,
      sources: createR2SourceBucket(env.SOURCES),
      ingest,
      db,
      queue: env.INGEST_QUEUE,
      pageSize: config.SYNC_PAGE_SIZE,
    }),
    webhooks: createWebhookService({ tenantData, config }),
  };
}

/**
 * The Upstash clients, each failing fast: a limiter or a cache tier that waits on a dead Redis is
 * worse than its policy decision or a miss. `counters` (rate limits, cache hit counts) retries a
 * dropped connection once; `strings` (the cache tier's values, kept as text) does not.
 */
function upstashClients(config: Config, wrapTransport: UpstashTransportWrapper | undefined) {
  const connection = { url: config.UPSTASH_REDIS_REST_URL!, token: config.UPSTASH_REDIS_REST_TOKEN!, timeoutMs: 1_000, wrapTransport };
  return {
    counters: createUpstashRedis({ ...connection, retries: 1 }),
    strings: createUpstashRedis({ ...connection, retries: 0, rawValues: true }),
  };
}

/** A factory that builds an environment's services once (keyed by its env object) with these platform adapters. */
export function servicesFactory(
  platform: (env: Bindings, config: Config) => PlatformAdapters,
  now: () => number = Date.now,
): ServicesFactory {
  const built = new WeakMap<object, Services>();
  return (env) => {
    let services = built.get(env);
    if (!services) {
      const config = loadConfig(env);
      services = createServices(env, config, platform(env, config), now);
      built.set(env, services);
    }
    return services;
  };
}
