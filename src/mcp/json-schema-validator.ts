import { z } from "@hono/zod-openapi";
import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import { fromJSONSchema } from "../zod-lean/from-json-schema";

/**
 * The MCP server's JSON Schema validator, on zod (`fromJSONSchema`), which the worker bundles
 * anyway. The SDK's default is ajv, which compiles schemas with `new Function` (not allowed in
 * Workers) and weighs ~40 KiB gzip; wrangler.toml aliases ajv away (see src/mcp/ajv-excluded.ts).
 * The SDK's server validates with it only what a client returns to an elicitation, which this
 * server never asks for, so it runs rarely if ever; it must still be right when it does.
 */
export const zodJsonSchemaValidator: jsonSchemaValidator = {
  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    const compiled = fromJSONSchema(schema as Parameters<typeof fromJSONSchema>[0]);
    return (input) => {
      const result = compiled.safeParse(input);
      if (result.success) return { valid: true, data: result.data as T, errorMessage: undefined };
      return { valid: false, data: undefined, errorMessage: z.prettifyError(result.error) };
    };
  },
};
