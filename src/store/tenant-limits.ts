import { z } from "@hono/zod-openapi";
import { type Config, type RateWindow, type RouteClass, rateWindowSchema } from "../config";
import { log } from "../logger";
import { createIsolateCache } from "../shared/isolate-cache";
import { isLocationHint, type LocationHint } from "../tenant/placement";

/**
 * A tenant's plan and limits: the `tenants` row's `plan` and `limits` (JSON), each missing member
 * taken from the configured defaults. Promise: `get` answers from isolate memory for
 * TENANT_LIMITS_CACHE_SECONDS after a read, and reads past half that time again after the response
 * (`background`, waitUntil), so a tenant in steady use never waits on D1 after its first read; the
 * reads go to a D1 read replica (`first-unconstrained`: the nearest), so an operator's change
 * applies within that time plus the replica's lag. A malformed `limits` is logged and ignored (the
 * defaults apply), never a failed request. Only settled values are shared between requests (no
 * request awaits another's read). Failure mode: D1's (StoreUnavailable); a failed background read
 * leaves the cached value to expire. Latency: none when cached, else one indexed read at a replica.
 */
export interface TenantLimits {
  plan: string | null;
  /** The tenant's object's location hint (`tenants.region`, migration 0011), or null: placed near its first request. */
  region: LocationHint | null;
  /** How many objects hold its data (`tenants.shards`, migration 0012; 1 … MAX_SHARDS): tenant-shards.ts. */
  shards: number;
  rate: Record<RouteClass, RateWindow>;
  maxApiKeys: number;
  maxDocuments: number;
  maxChunks: number;
  maxBytes: number;
}

export interface TenantLimitsStore {
  /** `background` takes the re-read of limits past half their cache time (hand it to waitUntil). */
  get(tenant: string, background?: (work: Promise<unknown>) => void): Promise<TenantLimits>;
}

/**
 * A `tenants` row's `limits` override. Built on the first row that has one, not at module load:
 * most tenants have none, so most isolates never need it.
 */
function buildLimitsSchema() {
  const window = rateWindowSchema();
  const count = z.number().int().positive();
  return z
    .object({
      query: window,
      ingest: window,
      auth: window,
      max_api_keys: count,
      max_documents: count,
      max_chunks: count,
      max_bytes: count,
    })
    .partial();
}

let limitsSchema: ReturnType<typeof buildLimitsSchema> | undefined;

export function defaultTenantLimits(config: Config): TenantLimits {
  return {
    plan: null,
    region: null,
    shards: 1,
    rate: { query: config.TENANT_RATE_LIMIT_QUERY, ingest: config.TENANT_RATE_LIMIT_INGEST, auth: config.TENANT_RATE_LIMIT_AUTH },
    maxApiKeys: config.TENANT_MAX_API_KEYS,
    maxDocuments: config.TENANT_MAX_DOCUMENTS,
    maxChunks: config.TENANT_MAX_CHUNKS,
    maxBytes: config.TENANT_MAX_BYTES,
  };
}

export function createTenantLimitsStore(db: D1Database, config: Config, now: () => number = Date.now): TenantLimitsStore {
  const defaults = defaultTenantLimits(config);
  const parse = async (tenant: string): Promise<TenantLimits> => {
    const row = await db
      .withSession("first-unconstrained")
      .prepare("SELECT plan, limits, region, shards FROM tenants WHERE tenant = ?1")
      .bind(tenant)
      .first<{ plan: string | null; limits: string | null; region: string | null; shards: number }>();
    if (!row) return defaults;
    let overrides: z.infer<ReturnType<typeof buildLimitsSchema>> = {};
    if (row.limits) {
      let raw: unknown;
      try {
        raw = JSON.parse(row.limits);
      } catch {
        raw = undefined;
      }
      limitsSchema ??= buildLimitsSchema();
      const parsed = limitsSchema.safeParse(raw);
      if (parsed.success) overrides = parsed.data;
      else log.warn("tenant limits malformed; defaults apply", { tenant });
    }
    return {
      plan: row.plan,
      // D1's CHECK admits hints only; anything else (a hand-edited database) places by first request.
      region: isLocationHint(row.region) ? row.region : null,
      // D1's CHECK holds it to 1 … MAX_SHARDS.
      shards: row.shards,
      rate: {
        query: overrides.query ?? defaults.rate.query,
        ingest: overrides.ingest ?? defaults.rate.ingest,
        auth: overrides.auth ?? defaults.rate.auth,
      },
      maxApiKeys: overrides.max_api_keys ?? defaults.maxApiKeys,
      maxDocuments: overrides.max_documents ?? defaults.maxDocuments,
      maxChunks: overrides.max_chunks ?? defaults.maxChunks,
      maxBytes: overrides.max_bytes ?? defaults.maxBytes,
    };
  };

  const cache = createIsolateCache(parse, { ttlMs: config.TENANT_LIMITS_CACHE_SECONDS * 1000, now });
  return { get: (tenant, background) => cache.get(tenant, background) };
}

/** The tenant's active (neither revoked nor expired) API keys: the key quota's usage. */
export async function countActiveApiKeys(db: D1Database, tenant: string, now = Date.now()): Promise<number> {
  const row = await db
    .prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)")
    .bind(tenant, now)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export interface StorageQuotaBreach {
  quota: "documents" | "bytes" | "chunks";
  limit: number;
  usage: number;
  detail: string;
}

/**
 * The first storage quota an ingest would break, given the tenant's usage now and its documents and
 * bytes once the ingest is stored; null when it fits. Chunks are counted at indexing time, so an
 * ingest is refused on them only when the tenant is already at its chunk quota.
 */
export function storageQuotaBreach(
  usage: { documents: number; bytes: number; chunks: number },
  after: { documents: number; bytes: number },
  limits: Pick<TenantLimits, "maxDocuments" | "maxBytes" | "maxChunks">,
): StorageQuotaBreach | null {
  const checks: Array<StorageQuotaBreach & { over: boolean }> = [
    {
      quota: "documents",
      over: after.documents > limits.maxDocuments,
      limit: limits.maxDocuments,
      usage: usage.documents,
      detail: `this would store ${after.documents} documents; the tenant's quota is ${limits.maxDocuments}`,
    },
    {
      quota: "bytes",
      over: after.bytes > limits.maxBytes,
      limit: limits.maxBytes,
      usage: usage.bytes,
      detail: `this would store ${after.bytes} bytes; the tenant's quota is ${limits.maxBytes}`,
    },
    {
      quota: "chunks",
      over: usage.chunks >= limits.maxChunks,
      limit: limits.maxChunks,
      usage: usage.chunks,
      detail: `the tenant has ${usage.chunks} chunks, its quota is ${limits.maxChunks}`,
    },
  ];
  const breach = checks.find((check) => check.over);
  if (!breach) return null;
  const { over: _over, ...refusal } = breach;
  return refusal;
}
