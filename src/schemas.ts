import { z } from "@hono/zod-openapi";

/** Schemas shared by several routes. Route-specific ones live beside their route. */

/** Built on first use (/openapi.json, a batch route), not at module load (worker.ts). */
let problemBuilt: ReturnType<typeof buildProblemSchema> | undefined;
export const problemSchema = () => (problemBuilt ??= buildProblemSchema());

const buildProblemSchema = () =>
  z
    .object({
      type: z.string(),
      title: z.string(),
      status: z.number().int(),
      detail: z.string(),
      code: z.string().openapi({ example: "VALIDATION_FAILED" }),
      request_id: z.string(),
    })
    .openapi("Problem");

/**
 * A media type object of a documented response whose schema is built when it is read. Only the
 * OpenAPI generator reads a route's responses (the handlers' types come from `T`), so a route
 * documented this way builds no response schema to serve a request: /openapi.json builds them.
 */
export const schemaWhenRead = <T extends z.ZodType>(build: () => T) => ({
  get schema() {
    return build();
  },
});

const problem = (description: string) => ({ description, content: { "application/problem+json": schemaWhenRead(problemSchema) } });

// One object in both sets below, so a route that spreads both documents the same 400 in either order.
const badRequest = problem(
  "The request is invalid; on authenticated routes also AMBIGUOUS_CREDENTIALS (Authorization and X-API-Key both sent)",
);
const unavailable = problem("A dependency is unavailable (the rate limiter failing closed, the store, …); see Retry-After");

/** The error responses every authenticated route can produce. */
export const authErrors = {
  400: badRequest,
  401: problem("Missing or invalid credentials"),
  403: problem("Authenticated, but not allowed"),
  429: problem("Rate limited"),
  503: unavailable,
} as const;

/** A JSON body's errors. A path or query that fails validation is authErrors' 400. */
export const validationErrors = {
  400: badRequest,
  413: problem("The body is too large"),
  415: problem("The body is not JSON"),
} as const;

export const notFoundError = { 404: problem("Not found") } as const;
export const quotaErrors = {
  403: problem("FORBIDDEN, or QUOTA_EXCEEDED: a tenant quota would be exceeded (nothing was changed); `quota`, `limit`, `usage` say which"),
} as const;

export const security: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }];

/**
 * A list route's `limit` and `cursor` query parameters. `decode` is the route's own cursor codec
 * (undefined: not a cursor it made); call it inside the route's factory, so nothing is built at load.
 */
export const pageQuery = (decode: (cursor: string) => unknown, cursorMaxLength: number) => ({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ param: { name: "limit", in: "query" } }),
  cursor: z
    .string()
    .max(cursorMaxLength)
    .refine((cursor) => decode(cursor) !== undefined, "not a cursor this API returned")
    .optional()
    .openapi({ param: { name: "cursor", in: "query" }, description: "next_cursor of the previous page" }),
});

export const RoleSchema = z.enum(["reader", "writer", "admin"]);

/** JSON bodies: the content block of a route's request. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const jsonResponse = <T extends z.ZodType>(description: string, schema: T) => ({
  description,
  content: { "application/json": { schema } },
});
