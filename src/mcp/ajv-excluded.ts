/**
 * Stands in for `ajv` and `ajv-formats` in the worker bundle (wrangler.toml `[alias]`). The MCP
 * SDK's server imports them for its default JSON Schema validator; the worker passes its own
 * (src/mcp/json-schema-validator.ts), so they are never called — and if a change ever made the
 * SDK reach for them, this fails loudly instead of shipping ~40 KiB gzip of unused code.
 */
export default class AjvExcluded {
  constructor() {
    throw new Error("ajv is not bundled in the worker: pass jsonSchemaValidator (src/mcp/json-schema-validator.ts)");
  }
}
