import { z } from "@hono/zod-openapi";
import { WORKERS_AI_EMBEDDING_MODELS } from "./embedding/workers-ai-models";

/**
 * The worker's configuration: every variable and secret it reads, parsed and validated once per
 * isolate. A bad value fails every request with CONFIG_INVALID naming the variable (never its
 * value), instead of failing later in some code path.
 */

/** A limit per window, e.g. { limit: 120, window: "60 s" }. */
export interface RateWindow {
  limit: number;
  window: `${number} ${"ms" | "s" | "m" | "h" | "d"}`;
}

/** Parses `<limit>/<window>` (`120/60s`, `10/1m`, `1000/1h`); null when malformed. */
export function parseRateWindow(value: string): RateWindow | null {
  const match = /^(\d+)\s*\/\s*(\d+)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) return null;
  const [, limit, amount, unit] = match;
  return { limit: Number(limit), window: `${amount} ${unit}` as RateWindow["window"] };
}

/** A `<limit>/<window>` string parsed into a RateWindow (a schema per call: callers build theirs lazily). */
export function rateWindowSchema() {
  return z.string().transform((value, ctx) => {
    const parsed = parseRateWindow(value);
    if (!parsed) {
      ctx.addIssue({ code: "custom", message: "expected <limit>/<window>, e.g. 120/60s" });
      return z.NEVER;
    }
    return parsed;
  });
}

export const ROUTE_CLASSES = ["query", "ingest", "auth"] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];

/** The query cache's tiers, fastest first (see src/cache/). */
export const CACHE_TIERS = ["memory", "cache-api", "kv", "redis"] as const;
export type CacheTierName = (typeof CACHE_TIERS)[number];

/**
 * The schema of the configuration, built on the first loadConfig rather than at module load (an
 * isolate needs it on its first request, not to start). Fields share the schemas they have in
 * common (zod schemas are immutable; a check or default returns a new one), so that one integer
 * field costs four zod instances instead of eight: this is the bulk of the worker's schemas.
 */
function buildConfigSchema() {
  const list = z.string().transform((value) =>
    value
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  );
  const integer = z.coerce.number().int();
  const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) => integer.check(z.gte(min), z.lte(max)).default(fallback);
  const secret = z.string().min(32, "must be at least 32 characters");
  /** `<limit>/<window>`, e.g. `120/60s`, `10/1m`, `1000/1h`; the fallback is parsed like a set value. */
  const rateWindow = rateWindowSchema();
  const rateLimit = (fallback: string) => rateWindow.prefault(fallback);

  return z.object({
    ENVIRONMENT: z.enum(["local", "test", "staging", "production"]).default("local"),

    // Origins, in failover order.
    ORIGIN_URLS: list.pipe(z.array(z.url({ protocol: /^https?$/ })).min(1)),
    ORIGIN_JWT_SECRET: secret,
    ORIGIN_EMBED_TIMEOUT_MS: int(2_000, 50, 60_000),
    ORIGIN_GENERATE_TIMEOUT_MS: int(20_000, 100, 120_000),
    ORIGIN_INGEST_TIMEOUT_MS: int(60_000, 100, 300_000),
    ORIGIN_FAILURE_THRESHOLD: int(3, 1, 100),
    ORIGIN_COOLDOWN_MS: int(10_000, 100, 600_000),
    /**
     * Staging and production (the `AI` binding): the Workers AI model that embeds a query when no
     * origin can, so dense retrieval survives an origin outage. It must be the origin's model family
     * and give EMBEDDING_DIMENSIONS-wide vectors (bge-base-en-v1.5: 768, as TEI serves); `none`
     * turns the fallback off. Unused locally, where there is no AI binding.
     */
    WORKERS_AI_EMBEDDING_MODEL: z.enum(["none", ...WORKERS_AI_EMBEDDING_MODELS]).default("@cf/baai/bge-base-en-v1.5"),
    WORKERS_AI_EMBED_TIMEOUT_MS: int(2_000, 50, 60_000),

    // The service's own tokens (HS256).
    AUTH_JWT_SECRET: secret,
    /**
     * Unset: `edge-rag` / `edge-rag-api` locally and in tests, `edge-rag:<ENVIRONMENT>` /
     * `edge-rag-api:<ENVIRONMENT>` in staging and production, so that a token minted by one is never
     * valid in the other; set there, the value must name its environment.
     */
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    AUTH_TOKEN_TTL_SECONDS: int(900, 60, 86_400),
    /** How long an isolate trusts a key it read: the bound on how long a revoked key keeps working. */
    API_KEY_CACHE_TTL_SECONDS: int(5, 0, 10),

    // An external identity provider (optional).
    IDP_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    IDP_ISSUER: z.string().optional(),
    IDP_AUDIENCE: z.string().optional(),
    IDP_ALGORITHMS: list
      .pipe(z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"])).min(1))
      .default(["RS256", "ES256", "EdDSA"]),
    IDP_CLOCK_TOLERANCE_SECONDS: int(30, 0, 300),
    IDP_TENANT_CLAIM: z.string().default("tenant"),
    IDP_ROLES_CLAIM: z.string().default("roles"),

    // Rate limits (Upstash Redis when configured, else the Workers rate-limiting bindings).
    UPSTASH_REDIS_REST_URL: z.url().optional(),
    UPSTASH_REDIS_REST_TOKEN: z.string().min(1).optional(),
    RATE_LIMIT_QUERY: rateLimit("120/60s"),
    /** Ingest is charged per document (a request of n documents costs n). */
    RATE_LIMIT_INGEST: rateLimit("2000/60s"),
    RATE_LIMIT_AUTH: rateLimit("10/60s"),
    RATE_LIMIT_LOGIN_IP: rateLimit("20/60s"),
    /**
     * Failed logins per account from all networks together (each network has RATE_LIMIT_AUTH of its
     * own): the ceiling against spraying, high enough that a stranger's failures from one network
     * never lock the owner out.
     */
    RATE_LIMIT_LOGIN_ACCOUNT: rateLimit("100/60s"),
    /**
     * Tenant-wide buckets per route class, shared by all of a tenant's keys and users (so minting
     * keys buys no capacity); a `tenants` row's `limits` overrides them per tenant.
     */
    TENANT_RATE_LIMIT_QUERY: rateLimit("600/60s"),
    TENANT_RATE_LIMIT_INGEST: rateLimit("5000/60s"),
    TENANT_RATE_LIMIT_AUTH: rateLimit("60/60s"),
    /** Failed authentications per client network (IPv4 address, IPv6 /64); past it the network gets 429 before any credential lookup. */
    RATE_LIMIT_AUTH_FAILURES_IP: rateLimit("30/60s"),
    /** Per-tenant defaults (a `tenants` row's `limits` overrides them): active API keys and storage. */
    TENANT_MAX_API_KEYS: int(50, 1, 100_000),
    TENANT_MAX_DOCUMENTS: int(100_000, 1, 1_000_000_000),
    TENANT_MAX_CHUNKS: int(2_000_000, 1, 10_000_000_000),
    TENANT_MAX_BYTES: int(1024 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
    /** How long an isolate trusts a tenant's limits row before reading it again. */
    TENANT_LIMITS_CACHE_SECONDS: int(30, 0, 3600),
    /** Route classes that let requests through when the limiter's store is unreachable. */
    RATE_LIMIT_FAIL_OPEN: list.pipe(z.array(z.enum(ROUTE_CLASSES))).default(["query"]),

    // Retrieval and index.
    EMBEDDING_DIMENSIONS: int(512, 1, 1536),
    /**
     * The Vectorize metadata indexes (`name:type`, ≤ 10), as created with `wrangler vectorize
     * create-metadata-index`. Filters on these are pushed down to the vector search; the rest are
     * applied exactly in D1.
     */
    VECTORIZE_METADATA_INDEXES: list
      .default(["collection:string", "document_id:string"])
      .pipe(
        z
          .array(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}:(string|number|boolean)$/, "expected name:string|number|boolean"))
          .max(10, "Vectorize allows at most 10 metadata indexes"),
      )
      .transform((entries) => Object.fromEntries(entries.map((entry) => entry.split(":") as [string, "string" | "number" | "boolean"]))),
    VECTOR_METRIC: z.enum(["cosine", "euclidean", "dot-product"]).default("cosine"),
    RRF_K: int(60, 1, 1000),
    /**
     * Weights of the dense and the BM25 ranking in hybrid fusion. Equal weights suit a strong
     * embedder (bge-base on TEI); the local CPU model is weaker than BM25 on technical text, so the
     * local configuration lowers the dense weight (tuned on the SciFact train split).
     */
    RRF_VECTOR_WEIGHT: z.coerce.number().gt(0).max(10).default(1),
    RRF_KEYWORD_WEIGHT: z.coerce.number().gt(0).max(10).default(1),
    /**
     * How hybrid retrieval fuses the two rankings (src/retrieval/fusion.ts): `rrf` (weighted
     * reciprocal-rank fusion, RRF_K and the RRF weights) or `convex` (a weighted mean of the scores,
     * each normalised per query by FUSION_NORMALIZATION, the dense side weighted CONVEX_VECTOR_WEIGHT
     * and BM25 the rest). `convex` lets a weak embedder reorder BM25's near-ties without dragging its
     * clear winners down; the local configuration uses it (tuned on SciFact train, `npm run eval -- --tune`).
     */
    FUSION: z.enum(["rrf", "convex"]).default("rrf"),
    FUSION_NORMALIZATION: z.enum(["min-max", "theoretical-min", "z-score"]).default("min-max"),
    CONVEX_VECTOR_WEIGHT: z.coerce.number().gt(0).lt(1).default(0.5),
    /** Candidates each retriever contributes before fusion (Vectorize caps ids-only topK at 100). */
    RETRIEVAL_CANDIDATES: int(50, 1, 100),
    /**
     * The rerank step after fusion (src/rerank/): `origin` (the origin's /v1/rerank, TEI serving a
     * cross-encoder), `workers-ai` (@cf/baai/bge-reranker-base on the AI binding), or `none` — the
     * default, and locally the only choice: no cross-encoder weights exist offline.
     */
    RERANKER: z.enum(["none", "origin", "workers-ai"]).default("none"),
    /** How many of the best fused candidates the reranker scores (at least top_k of them). */
    RERANK_CANDIDATES: int(30, 1, 100),
    RERANK_TIMEOUT_MS: int(2_000, 50, 60_000),

    /**
     * No document progress for this long means a job's messages are gone, and the sweep enqueues
     * them again. Longer than the longest retry backoff (≈ 8 min) plus a backlog; a false positive
     * only costs duplicate messages, which the consumer skips.
     */
    INGEST_STALL_SECONDS: int(1800, 60, 86_400),
    /**
     * Bucket sync (bucket-sync.ts): keys per page of a run's listing. The run persists its cursor
     * after each page, so a smaller page loses less work to a crash and costs more calls. R2 lists
     * at most 1,000 keys a call.
     */
    SYNC_PAGE_SIZE: int(100, 1, 1_000),

    /**
     * Webhook deliveries (src/webhooks/): attempts per delivery before it is marked failed (at most
     * 10: wrangler.toml's max_retries for the webhook queue is 10, so Queues never drops a message
     * before the consumer gives up on it), the delay before the second attempt (doubling after each
     * failure, capped at an hour), each POST's timeout, and webhooks per tenant.
     */
    WEBHOOK_MAX_ATTEMPTS: int(8, 1, 10),
    WEBHOOK_RETRY_BASE_SECONDS: int(30, 1, 3_600),
    WEBHOOK_TIMEOUT_MS: int(10_000, 100, 30_000),
    TENANT_MAX_WEBHOOKS: int(10, 1, 100),
    /**
     * How long a tenant object's start (or one call of `edge-rag migrate tenant-data`) copies rows
     * from D1 before it stops and leaves the rest to the next (migrate-tenant-data.ts). At most 25 s:
     * the platform stops a constructor's blockConcurrencyWhile at 30 s. Tests set it low to take a
     * copy across many starts.
     */
    TENANT_COPY_SLICE_MS: int(20_000, 0, 25_000),

    // Query cache (src/cache/). Tiers fastest first; by default every tier this environment has.
    QUERY_CACHE_TIERS: list.pipe(z.array(z.enum(CACHE_TIERS)).min(0)).optional(),
    /** How long an answer is fresh. */
    QUERY_CACHE_TTL_SECONDS: int(300, 1, 86_400),
    /** After the TTL, how long a stale answer is still served (and refreshed once in the background). */
    QUERY_CACHE_SWR_SECONDS: int(60, 0, 86_400),
    /** How long the last good answer to a request is kept to serve when the origin cannot generate. */
    QUERY_CACHE_STALE_IF_ERROR_SECONDS: int(86_400, 0, 30 * 86_400),
    /** How long a query's embedding is kept (per tenant and embedding model); 0 turns that cache off. */
    QUERY_EMBEDDING_CACHE_SECONDS: int(86_400, 0, 30 * 86_400),
    /** Largest entry stored; a larger answer is served but not cached. */
    QUERY_CACHE_MAX_ENTRY_BYTES: int(256 * 1024, 1024, 4 * 1024 * 1024),
    /** The per-isolate tier's bounds. */
    QUERY_CACHE_MEMORY_MAX_ENTRIES: int(1000, 1, 100_000),
    QUERY_CACHE_MEMORY_MAX_BYTES: int(16 * 1024 * 1024, 64 * 1024, 128 * 1024 * 1024),
    /**
     * How long an isolate trusts a tenant's index version (and cache epoch) before reading D1 again:
     * the bound on how long after an ingest (or DELETE /v1/cache) a query may still be answered
     * from the previous data.
     */
    INDEX_VERSION_CACHE_SECONDS: int(5, 0, 300),
    /**
     * Names the generation model and prompt template behind the origin. Part of every cached
     * answer's key: change it when either changes, and cached answers stop matching.
     */
    ANSWER_MODEL_TAG: z.string().min(1).max(200).default("origin-default"),

    /** How long an isolate reuses its last /ready result (0: probe on every hit). */
    READY_CACHE_SECONDS: int(5, 0, 60),

    CORS_ALLOWED_ORIGINS: list.default([]),
    METRICS_SCRAPE_TOKEN: z.string().min(16).optional(),
    /**
     * The operators' tenant: its admins are the service's operators and may read what covers every
     * tenant (/metrics). Unset: only the scrape token reads /metrics. No other tenant's admin can.
     */
    OPERATOR_TENANT: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "expected a tenant id")
      .optional(),
  });
}

let configSchema: ReturnType<typeof buildConfigSchema> | undefined;

export type Config = Omit<z.infer<ReturnType<typeof buildConfigSchema>>, "AUTH_ISSUER" | "AUTH_AUDIENCE"> & {
  AUTH_ISSUER: string;
  AUTH_AUDIENCE: string;
};

/** Environments where plain http (and shared token names) are fine: nothing leaves the machine. */
const DEVELOPMENT_ENVIRONMENTS = new Set(["local", "test"]);

/** Whether this is a deployed environment (staging, production): connections that leave the machine must be https. */
export const isDeployed = (config: Pick<Config, "ENVIRONMENT">) => !DEVELOPMENT_ENVIRONMENTS.has(config.ENVIRONMENT);

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration: ${issues.join("; ")}`);
  }
}

const parsed = new WeakMap<object, Config>();

/** Parses the bindings' variables once per isolate (keyed by the env object). */
export function loadConfig(env: object): Config {
  const cached = parsed.get(env);
  if (cached) return cached;
  configSchema ??= buildConfigSchema();
  // A binding (KV, a rate limiter…) under a configuration variable's name would silently hide
  // the variable, so that is an error too.
  const shadowed = Object.keys(configSchema.shape).filter((name) => {
    const value = (env as Record<string, unknown>)[name];
    return value !== undefined && value !== null && typeof value !== "string";
  });
  if (shadowed.length > 0) throw new ConfigError(shadowed.map((name) => `${name}: is a binding, expected a string variable`));
  // Unset variables arrive as undefined; empty strings mean "unset" too.
  const raw = Object.fromEntries(Object.entries(env).filter(([, value]) => typeof value === "string" && value !== ""));
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join(".") || "config"}: ${issue.message}`));
  }
  if (Boolean(result.data.UPSTASH_REDIS_REST_URL) !== Boolean(result.data.UPSTASH_REDIS_REST_TOKEN)) {
    throw new ConfigError(["UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together"]);
  }
  if (result.data.IDP_JWKS_URL && !(result.data.IDP_ISSUER && result.data.IDP_AUDIENCE)) {
    throw new ConfigError(["IDP_JWKS_URL requires IDP_ISSUER and IDP_AUDIENCE"]);
  }
  const data = result.data;
  const environment = data.ENVIRONMENT;
  const deployed = !DEVELOPMENT_ENVIRONMENTS.has(environment);
  const issues: string[] = [];
  if (deployed) {
    // Credentials and tenants' data cross these connections: TLS or nothing.
    const insecure = (url: string | undefined) => url !== undefined && new URL(url).protocol !== "https:";
    if (data.ORIGIN_URLS.some(insecure)) issues.push(`ORIGIN_URLS: must be https in ${environment}`);
    if (insecure(data.IDP_JWKS_URL)) issues.push(`IDP_JWKS_URL: must be https in ${environment}`);
    if (insecure(data.UPSTASH_REDIS_REST_URL)) issues.push(`UPSTASH_REDIS_REST_URL: must be https in ${environment}`);
    for (const name of ["AUTH_ISSUER", "AUTH_AUDIENCE"] as const) {
      const value = data[name];
      if (value !== undefined && !value.includes(environment))
        issues.push(`${name}: must name the environment (${environment}) in ${environment}`);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const config: Config = {
    ...data,
    AUTH_ISSUER: data.AUTH_ISSUER ?? (deployed ? `edge-rag:${environment}` : "edge-rag"),
    AUTH_AUDIENCE: data.AUTH_AUDIENCE ?? (deployed ? `edge-rag-api:${environment}` : "edge-rag-api"),
  };
  parsed.set(env, config);
  return config;
}
