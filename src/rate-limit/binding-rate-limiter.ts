import { type RateLimiter, RateLimitStoreUnavailable } from "./rate-limiter";

/**
 * The fallback when no Upstash Redis is configured: Cloudflare's rate-limiting bindings. Their
 * limits live in wrangler.toml ([[ratelimits]], period 10 or 60 s), they count per Cloudflare
 * location, and they only answer allowed/blocked, so `remaining` is unknown.
 */
export function createBindingRateLimiter(
  bindings: { query: RateLimit; ingest: RateLimit; auth: RateLimit },
  limits: { query: number; ingest: number; auth: number },
  periodSeconds = 60,
): RateLimiter {
  return {
    kind: "binding",
    async limit(routeClass, key, cost = 1) {
      // The binding has one namespace per class; login-by-IP shares the auth namespace.
      const name = routeClass === "login-ip" ? "auth" : routeClass;
      // It counts one per call, so a cost of n is n calls (stopping at the first refusal).
      let success = true;
      try {
        for (let taken = 0; taken < cost && success; taken++) {
          ({ success } = await bindings[name].limit({ key: `${routeClass}:${key}` }));
        }
      } catch (error) {
        throw new RateLimitStoreUnavailable(error);
      }
      return { allowed: success, limit: limits[name], remaining: null, resetAt: Date.now() + periodSeconds * 1000 };
    },
  };
}
