import { type Bucket, bucketClass, type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/**
 * The fallback when no Upstash Redis is configured: Cloudflare's rate-limiting bindings. Their
 * limits live in wrangler.toml ([[ratelimits]], period 10 or 60 s), they count per Cloudflare
 * location, and they only answer allowed/blocked, so `remaining` is unknown and a tenant's own
 * limits cannot apply (every bucket uses its class's binding, keyed `<bucket>:<key>`). Nothing can
 * be given back to the binding, so `refund` does nothing: a successful login counts too.
 */
export function createBindingRateLimiter(
  bindings: { query: RateLimit; ingest: RateLimit; auth: RateLimit },
  limits: { query: number; ingest: number; auth: number },
  periodSeconds = 60,
): RateLimiter {
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
      return { allowed: success, limit: limits[name], remaining: null, resetAt: Date.now() + periodSeconds * 1000 };
    },
    async refund() {},
  };
}
