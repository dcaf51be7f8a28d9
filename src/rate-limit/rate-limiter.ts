import type { RouteClass } from "../config";

/**
 * The rate-limit port. Promise: `limit` decides within ~1 s (one Redis round trip, or none when
 * the ephemeral cache already knows the key is blocked) and throws RateLimitStoreUnavailable when
 * its store cannot be reached, so the caller applies the route class's fail-open/closed policy.
 */
export interface RateLimiter {
  readonly kind: "upstash" | "binding";
  /** Takes `cost` tokens (a batch of n queries costs n); the Workers binding can only count 1. */
  limit(routeClass: RouteClass | "login-ip", key: string, cost?: number): Promise<RateLimitDecision>;
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
