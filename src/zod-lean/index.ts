/**
 * The production bundle's "zod" (wrangler.toml alias): zod's own modules and classes, minus what
 * this worker never uses and no bundler could drop, since @hono/zod-openapi passes the whole `z`
 * namespace to extendZodWithOpenApi:
 * - `locales`: the error messages in ~50 languages (~260 KiB minified, ~40 % of the bundle); the
 *   default English one is registered by zod's schemas themselves;
 * - `compile`/`withParser` (ahead-of-time parsers generated with `new Function`, which Workers
 *   refuse anyway; ~31 KiB);
 * - `fromJSONSchema`, whose module copies zod's whole namespace at load (~2-3 ms of startup CPU):
 *   the MCP server's JSON Schema validator (src/mcp/json-schema-validator.ts) imports it from
 *   ./from-json-schema.ts, so it loads with the MCP server, on the first /mcp request.
 * test/tools/zod-lean.test.ts checks this against the installed zod: everything else is there, as
 * the same values. These files import zod's internal modules, so package.json pins zod to one
 * exact version. Kept, measured without it (issue 24, `npm run bench:cold-start -- --against HEAD
 * --runs 5` with this alias deleted from wrangler.toml, at ee0669d): 260.9 KiB gzip instead of
 * 214.6, over the 250 KiB budget, and Node's CPU to load the bundle 143.1 ms instead of 119.5.
 */
import * as z from "./external";

export * from "./external";
export { z, z as default };
