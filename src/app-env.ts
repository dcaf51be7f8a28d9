import type { RequestIdVariables } from "hono/request-id";
import type { Principal } from "./auth/principal";
import type { Bindings } from "./bindings";
import type { Config } from "./config";
import type { Logger } from "./logger";
import type { Services } from "./services";

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
