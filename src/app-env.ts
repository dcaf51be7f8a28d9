import type { RequestIdVariables } from "hono/request-id";
import type { Principal } from "./auth/principal";
import type { Config } from "./config";
import type { Logger } from "./logger";
import type { Services } from "./services";

/** Secrets are not in wrangler.toml, so `wrangler types` cannot see them. */
export interface Secrets {
  AUTH_JWT_SECRET?: string;
  ORIGIN_JWT_SECRET?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  METRICS_SCRAPE_TOKEN?: string;
}

/** The worker's bindings: `wrangler types` (`npm run types`) and the secrets. */
export type Bindings = Env & Secrets;

/** The one Hono environment type of the worker. */
export interface AppEnv {
  Bindings: Bindings;
  Variables: RequestIdVariables & {
    config: Config;
    services: Services;
    /** The logger with this request's id on every line. */
    log: Logger;
    /** Set by the authenticate middleware on every route that needs a principal. */
    principal: Principal;
    /** Set by the rate limiter when its store was unreachable; the Analytics Engine data point records it. */
    rateLimitStore?: "fail-open" | "fail-closed";
  };
}
