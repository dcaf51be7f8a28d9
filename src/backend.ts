import { productionPlatform } from "./production-platform";
import { queryBackendEntrypoint } from "./query/query-backend";
import { servicesFactory } from "./services";

/**
 * The query backend Worker's entry (wrangler.backend.toml): the miss path as the QueryBackend
 * entrypoint, deployed with a placement hint next to the origin, and reached only through the
 * front's BACKEND service binding (src/query/remote-query-service.ts). It answers no HTTP.
 */
export class QueryBackend extends queryBackendEntrypoint(servicesFactory(productionPlatform)) {}

export default {
  fetch: () => new Response(null, { status: 404 }),
} satisfies ExportedHandler;
