import type { RateWindow, RouteClass } from "../config";

/**
 * The rate-limit port. Promise: `limit` decides within ~1 s (one Redis round trip, or none when
 * the isolate already knows the key: blocked, or, for a class that fails open, within its limits)
 * and throws RateLimitStoreUnavailable when its store cannot be reached, so the caller applies the
 * route class's fail-open/closed policy.
 *
 * Buckets are separate namespaces (their own key prefix in Redis, their own prefix in the binding's
 * key), so no key of one kind can ever count against another: a principal's `auth` bucket, a
 * user's login-failure bucket and an IP's bucket never share a counter, whatever the tenant or
 * username is called.
 */
export type Bucket =
  /** Per principal (tenant + subject), per route class. */
  | RouteClass
  /** Per tenant, per route class: all of a tenant's keys and users share it. */
  | `tenant-${RouteClass}`
  /** Login attempts per client IP. */
  | "login-ip"
  /** Login attempts per username; a successful one is refunded, so only failures stay counted. */
  | "login-user"
  /** Failed authentications (any credential) per client IP. */
  | "auth-fail-ip";

export interface RateLimiter {
  readonly kind: "upstash" | "binding";
  /**
   * Takes `cost` tokens (a batch of n queries costs n) from `key`'s bucket; `window` overrides
   * the bucket's configured limit (a tenant's own limits). The Workers binding can only count 1
   * per call and has its limits in wrangler.toml.
   */
  limit(bucket: Bucket, key: string, cost?: number, window?: RateWindow): Promise<RateLimitDecision>;
  /**
   * Gives back up to `cost` tokens that `limit` took from `key` in the current window (login takes
   * one before it verifies a password, atomically, and refunds a success). The Workers binding
   * cannot: there the tokens stay taken.
   */
  refund(bucket: Bucket, key: string, cost?: number, window?: RateWindow): Promise<void>;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Unknown for the Workers binding, which answers only allowed/blocked. */
  remaining: number | null;
  /** Epoch ms when the window frees up. */
  resetAt: number;
  /** Bookkeeping (multi-region sync, analytics) to finish after the response: hand to waitUntil. */
  pending?: Promise<unknown>;
}

export class RateLimitStoreUnavailable extends Error {
  constructor(cause: unknown) {
    super("the rate-limit store is unreachable", { cause });
    this.name = "RateLimitStoreUnavailable";
  }
}

/** The route class whose fail-open/closed policy and binding namespace a bucket uses. */
export function bucketClass(bucket: Bucket): RouteClass {
  if (bucket === "login-ip" || bucket === "login-user" || bucket === "auth-fail-ip") return "auth";
  return bucket.startsWith("tenant-") ? (bucket.slice("tenant-".length) as RouteClass) : (bucket as RouteClass);
}
