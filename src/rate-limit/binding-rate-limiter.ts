import { type Bucket, bucketClass, type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/**
 * The fallback when no Upstash Redis is configured: Cloudflare's rate-limiting bindings. Their
 * limits live in wrangler.toml ([[ratelimits]], period 10 or 60 s), they count per Cloudflare
 * location, and they only answer allowed/blocked, so `remaining` is unknown and a tenant's own
 * limits cannot apply (every bucket uses its class's binding, keyed `<bucket>:<key>`). The binding
 * cannot be asked without counting, so `peek` answers from the refusals this isolate has seen.
 */
export function createBindingRateLimiter(
  bindings: { query: RateLimit; ingest: RateLimit; auth: RateLimit },
  limits: { query: number; ingest: number; auth: number },
  periodSeconds = 60,
): RateLimiter {
  // Refused keys until their period ends: safe to lose.
  const refused = new Map<string, number>();
  const id = (bucket: Bucket, key: string) => `${bucket}:${key}`;
  return {
    kind: "binding",
    async limit(bucket, key, cost = 1) {
      const name = bucketClass(bucket);
      // It counts one per call, so a cost of n is n calls (stopping at the first refusal).
      let success = true;
      try {
        for (let taken = 0; taken < cost && success; taken++) {
          ({ success } = await bindings[name].limit({ key: id(bucket, key) }));
        }
      } catch (error) {
        throw new RateLimitStoreUnavailable(error);
      }
      const resetAt = Date.now() + periodSeconds * 1000;
      if (!success) {
        if (refused.size > 10_000) refused.clear();
        refused.set(id(bucket, key), resetAt);
      }
      return { allowed: success, limit: limits[name], remaining: null, resetAt };
    },
    async peek(bucket, key) {
      const until = refused.get(id(bucket, key)) ?? 0;
      const allowed = until <= Date.now();
      return { allowed, limit: limits[bucketClass(bucket)], remaining: null, resetAt: allowed ? Date.now() : until };
    },
  };
}
