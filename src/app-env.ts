import type { RequestIdVariables } from "hono/request-id";
import type { Principal } from "./auth/principal";
import type { Bindings } from "./bindings";
import type { Config } from "./config";
import type { Logger } from "./logger";
import type { QueryMetadata } from "./query/schemas";
import type { Services } from "./services";

/** How a query route's answers were served (a batch: each entry's), for the data point observe.ts writes. */
export type QueryOutcome = ReadonlyArray<Pick<QueryMetadata, "cache" | "degraded_reasons">>;

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
    /** Set by the query routes once they know it; a stream's settles when the stream ends. */
    queryOutcome?: QueryOutcome | Promise<QueryOutcome>;
  };
}
