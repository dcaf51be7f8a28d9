import { z } from "@hono/zod-openapi";
import type { CacheTierName } from "../config";
import { errorFields, log } from "../logger";
import { metrics } from "../metrics";
import type { CacheStore } from "./cache-store";

/**
 * The query cache's tiers read as one: the fastest tier with a valid entry answers, and the
 * faster tiers are filled from it; a write goes to every tier.
 *
 * Promise: `get` returns only an entry that parses as the caller's schema and has not expired; a
 * corrupt, foreign or expired entry is a miss. The value it returns is frozen (deeply) and may be
 * the same object on the next hit: a hit whose text is the one this isolate parsed last for the key
 * (with the same schema) is not parsed again (at most PARSED_MAX_ENTRIES entries, each at most
 * PARSED_MAX_CHARS of text; safe to lose). Never throws: a failing tier is skipped (logged,
 * counted as `error`), so the cache can make a query slower by at most one timeout per tier, never
 * fail it. `put` stores nothing larger than `maxEntryBytes`.
 * Latency: a memory hit costs microseconds; past the memory tier, the remote tiers are read at once,
 * so a remote hit or a miss costs the slowest remote read (not their sum). Cost: a lookup that
 * misses memory reads every remote tier, also when the first of them has the entry (one KV read
 * and one Redis command more than reading in turn would, on a Cache API hit).
 */
export interface TieredCache {
  readonly tiers: readonly CacheTierName[];
  get<T>(key: string, schema: z.ZodType<T>, defer: Defer): Promise<CacheEntry<T> | null>;
  /**
   * True when stored (false: too large, or no tier took it). The entry lives `ttlSeconds` from
   * `storedAt` (default now): a value another cache layer already had keeps its age.
   */
  put(key: string, value: unknown, ttlSeconds: number, storedAt?: number): Promise<boolean>;
}

export interface CacheEntry<T> {
  value: T;
  /** Epoch milliseconds. */
  storedAt: number;
  expiresAt: number;
  tier: CacheTierName;
}

/** Hands work that may outlive the response to the runtime (ExecutionContext.waitUntil). */
export type Defer = (work: Promise<unknown>) => void;

const ENVELOPE_VERSION = 1;

/** Parsed entries an isolate keeps, and the longest text it keeps one for (UTF-16 code units). */
const PARSED_MAX_ENTRIES = 256;
const PARSED_MAX_CHARS = 64 * 1024;

type Envelope<T> = { v: number; stored_at: number; expires_at: number; value: T };

/** Freezes a parsed JSON value and everything in it, so a value shared by many hits cannot be changed by one. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export function createTieredCache(stores: readonly CacheStore[], options: { maxEntryBytes: number; now?: () => number }): TieredCache {
  const now = options.now ?? Date.now;

  const envelopeSchemas = new WeakMap<z.ZodType, z.ZodType>();
  const envelopeOf = <T>(schema: z.ZodType<T>) => {
    let envelope = envelopeSchemas.get(schema);
    if (!envelope) {
      envelope = z.object({ v: z.literal(ENVELOPE_VERSION), stored_at: z.number(), expires_at: z.number(), value: schema });
      envelopeSchemas.set(schema, envelope);
    }
    return envelope as z.ZodType<Envelope<T>>;
  };

  // By key: the text last parsed, with which schema, and what it parsed to.
  const parsed = new Map<string, { raw: string; schema: z.ZodType; envelope: Envelope<unknown> }>();
  const parseOnce = <T>(key: string, raw: string, schema: z.ZodType<T>): Envelope<T> | null => {
    const known = parsed.get(key);
    if (known && known.schema === schema && known.raw === raw) return known.envelope as Envelope<T>;
    const envelope = parse(raw, envelopeOf(schema));
    if (envelope) deepFreeze(envelope);
    if (envelope && raw.length <= PARSED_MAX_CHARS) {
      if (parsed.size >= PARSED_MAX_ENTRIES && !parsed.has(key)) parsed.clear();
      parsed.set(key, { raw, schema, envelope });
    } else parsed.delete(key);
    return envelope;
  };

  return {
    tiers: stores.map((store) => store.name),

    async get(key, schema, defer) {
      // The isolate's memory first (microseconds, and where repeated questions hit), then the remote
      // tiers all at once, so a miss costs the slowest remote read rather than their sum: a KV miss
      // is KV's slow read (it goes to the central store), and Redis may be a region away. A remote
      // tier's answer is used once every tier above it has missed.
      let remoteReads: Map<CacheStore, Promise<string | null>> | undefined;
      for (const [position, store] of stores.entries()) {
        if (store.name !== "memory") remoteReads ??= new Map(stores.slice(position).map((tier) => [tier, read(tier, key)]));
        const raw = await (remoteReads?.get(store) ?? read(store, key));
        if (raw === null) continue;
        // Nothing this cache wrote is larger: an oversized value is not ours to parse.
        const entry = raw.length > options.maxEntryBytes ? null : parseOnce(key, raw, schema);
        if (!entry || entry.expires_at <= now()) {
          metrics.cacheLookups.inc({ tier: store.name, outcome: entry ? "expired" : "corrupt" });
          continue;
        }
        metrics.cacheLookups.inc({ tier: store.name, outcome: "hit" });
        const remainingSeconds = Math.ceil((entry.expires_at - now()) / 1000);
        const faster = stores.slice(0, position);
        if (faster.length > 0) defer(Promise.allSettled(faster.map((tier) => tier.put(key, raw, remainingSeconds))));
        return { value: entry.value, storedAt: entry.stored_at, expiresAt: entry.expires_at, tier: store.name };
      }
      return null;
    },

    async put(key, value, ttlSeconds, storedAt = now()) {
      const expiresAt = storedAt + ttlSeconds * 1000;
      const remainingSeconds = Math.ceil((expiresAt - now()) / 1000);
      if (remainingSeconds <= 0) return false;
      const raw = JSON.stringify({ v: ENVELOPE_VERSION, stored_at: storedAt, expires_at: expiresAt, value });
      if (raw.length > options.maxEntryBytes) {
        metrics.cacheWrites.inc({ tier: "all", outcome: "oversized" });
        return false;
      }
      const results = await Promise.allSettled(stores.map((store) => store.put(key, raw, remainingSeconds)));
      results.forEach((result, position) => {
        const tier = stores[position]!.name;
        metrics.cacheWrites.inc({ tier, outcome: result.status === "fulfilled" ? "stored" : "error" });
        if (result.status === "rejected") log.warn("cache tier write failed", { tier, ...errorFields(result.reason) });
      });
      return results.some((result) => result.status === "fulfilled");
    },
  };
}

/** One tier's raw value; a failing tier is a miss (logged, counted as `error`), never a rejection. */
async function read(store: CacheStore, key: string): Promise<string | null> {
  try {
    const raw = await store.get(key);
    if (raw === null) metrics.cacheLookups.inc({ tier: store.name, outcome: "miss" });
    return raw;
  } catch (error) {
    metrics.cacheLookups.inc({ tier: store.name, outcome: "error" });
    log.warn("cache tier failed; falling through", { tier: store.name, ...errorFields(error) });
    return null;
  }
}

function parse<T>(raw: string, schema: z.ZodType<T>): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
