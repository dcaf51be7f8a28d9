/**
 * The worker's bindings, apart from the Hono environment (app-env.ts), so that what is built from
 * them (services.ts) and what holds those services (AppEnv) do not import each other.
 */

/** Secrets are not in wrangler.toml, so `wrangler types` cannot see them. */
export interface Secrets {
  AUTH_JWT_SECRET?: string;
  ORIGIN_JWT_SECRET?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  METRICS_SCRAPE_TOKEN?: string;
}

/** The worker's bindings: `wrangler types` (`npm run types`) and the secrets. */
export type Bindings = Env & Secrets;
