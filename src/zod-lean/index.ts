/**
 * The production bundle's "zod" (wrangler.toml alias): zod's own modules and classes, minus what
 * this worker never uses and no bundler could drop, since @hono/zod-openapi passes the whole `z`
 * namespace to extendZodWithOpenApi:
 * - `locales`: the error messages in ~50 languages (~260 KiB minified, ~40 % of the bundle); the
 *   default English one is registered by zod's schemas themselves;
 * - `compile`/`withParser` (ahead-of-time parsers generated with `new Function`, which Workers
 *   refuse anyway; ~31 KiB). `fromJSONSchema` stays: the MCP server's JSON Schema validator
 *   (src/mcp/json-schema-validator.ts) is built on it.
 * test/tools/zod-lean.test.ts checks this against the installed zod: everything else is there, as
 * the same values.
 */
import * as z from "./external";

export * from "./external";
export { z, z as default };
