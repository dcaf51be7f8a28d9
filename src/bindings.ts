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

/**
 * The query backend (src/query/query-backend.ts) behind a service binding: locally this worker's
 * own QueryBackend entrypoint, deployed a Worker of its own placed next to the data. Optional:
 * without it a miss runs in the front. Its RPC methods are QueryBackendMethods
 * (remote-query-service.ts), which services.ts names: importing them here would close an import
 * circle through the tenant objects' module, which imports these bindings.
 */
export interface BackendBinding {
  BACKEND?: Fetcher;
}

/** The worker's bindings: `wrangler types` (`npm run types`), the backend and the secrets. */
export type Bindings = Omit<Env, "BACKEND"> & BackendBinding & Secrets;
