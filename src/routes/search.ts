import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { queryResponseSchemas, querySchemas } from "../query/schemas";
import { authErrors, jsonBody, schemaWhenRead, security, validationErrors } from "../schemas";
import { cacheStatusHeader, queryContext } from "./query-http";

/**
 * POST /v1/search: the retrieval of /v1/query without the answer. For clients that build their own
 * prompts, and for evaluation (recall@100 needs 100 ranked results, and document-level metrics
 * need one result per document). Not in the original API table: an addition, not a change.
 */
export function createSearchRoutes() {
  const searchRoutes = new OpenAPIHono<AppEnv>();
  const { SearchRequestSchema } = querySchemas();

  const search = createRoute({
    method: "post",
    path: "/v1/search",
    operationId: "search",
    summary: "Rank the tenant's chunks (or documents) for a query, without generating an answer",
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "reader" })],
    request: { body: jsonBody(SearchRequestSchema) },
    responses: {
      // Built for /openapi.json (or a cache read), not to answer (as POST /v1/query's).
      200: {
        description: "Ranked results",
        content: { "application/json": schemaWhenRead(() => queryResponseSchemas().SearchResponseSchema) },
      },
      ...validationErrors,
      ...authErrors,
    },
  });

  searchRoutes.openapi(search, async (c) => {
    const input = c.req.valid("json");
    await chargeRoute(c, "query");
    const response = await c.var.services.query.search(c.var.principal.tenant, input, queryContext(c));
    c.header("cache-status", cacheStatusHeader(response.metadata));
    c.set("queryOutcome", [response.metadata]);
    return c.json(response, 200);
  });
  return searchRoutes;
}
