/**
 * The worker's bindings, apart from the Hono environment (app-env.ts), so that what is built from
 * them (services.ts) and what holds those services (AppEnv) do not import each other.
 */

import type { QueryBackendMethods } from "./query/remote-query-service";

/** Secrets are not in wrangler.toml, so `wrangler types` cannot see them. */
export interface Secrets {
  AUTH_JWT_SECRET?: string;
  ORIGIN_JWT_SECRET?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  METRICS_SCRAPE_TOKEN?: string;
}

/**
 * The query backend (src/query/query-backend.ts) behind a service binding: locally this worker's
 * own QueryBackend entrypoint, deployed a Worker of its own placed next to the data. Optional:
 * without it a miss runs in the front.
 */
export interface BackendBinding {
  BACKEND?: QueryBackendMethods;
}

/** The worker's bindings: `wrangler types` (`npm run types`), the backend and the secrets. */
export type Bindings = Omit<Env, "BACKEND"> & BackendBinding & Secrets;
