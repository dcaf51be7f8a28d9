import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { AppEnv, QueryOutcome } from "../app-env";
import { internalError, toProblem } from "../errors";
import { errorFields } from "../logger";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import type { QueryEvent } from "../query/query-service";
import { queryResponseSchemas, querySchemas } from "../query/schemas";
import { authErrors, jsonBody, schemaWhenRead, security, validationErrors } from "../schemas";
import { cacheStatusHeader, queryContext } from "./query-http";

const STREAM_DESCRIPTION =
  "With `stream: true` or `Accept: text/event-stream`: server-sent events `sources` (once, first; data = the sources array), " +
  '`token` (data = {"text"}: answer deltas), then `done` (data = the metadata) — or `error` (data = a problem object) when ' +
  "the answer breaks off after it started.";

/**
 * POST /v1/query: validate, answer (JSON or server-sent events), serialise. A factory, as every
 * group: its request schema is built when an app mounts it (worker.ts: on the first query), not at
 * module load; its response schema when /openapi.json reads it.
 */
export function createQueryRoutes() {
  const queryRoutes = new OpenAPIHono<AppEnv>();
  const { QueryRequestSchema } = querySchemas();

  const query = createRoute({
    method: "post",
    path: "/v1/query",
    operationId: "query",
    summary: "Answer a question from the tenant's documents, with cited sources",
    description:
      "Retrieves the top_k chunks (hybrid, vector or keyword), then answers with the origin's generator. When the origin " +
      "cannot embed the query the retrieval is keyword-only; when it cannot generate, the answer is extractive, built at the " +
      "edge. Either way metadata.degraded is true: a query the index can answer never fails with a 5xx. " +
      STREAM_DESCRIPTION,
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "reader" })],
    request: { body: jsonBody(QueryRequestSchema) },
    responses: {
      200: {
        description: "The answer and its sources (JSON), or the same as server-sent events",
        content: {
          // Built for /openapi.json (or a cache read), not to answer: the handler serialises the service's result.
          "application/json": schemaWhenRead(() => queryResponseSchemas().QueryResponseSchema),
          "text/event-stream": { schema: z.string() },
        },
      },
      ...validationErrors,
      ...authErrors,
    },
  });

  queryRoutes.openapi(query, async (c) => {
    const { stream, ...input } = c.req.valid("json");
    await chargeRoute(c, "query");
    const context = queryContext(c);
    const { tenant } = c.var.principal;

    if (!stream && !acceptsEventStream(c.req.header("accept"))) {
      const response = await c.var.services.query.answer(tenant, input, context);
      c.header("cache-status", cacheStatusHeader(response.metadata));
      c.set("queryOutcome", [response.metadata]);
      return c.json(response, 200);
    }
    // Retrieval happens before any byte is sent, so its failures are ordinary problem responses.
    const events = await c.var.services.query.stream(tenant, input, context);
    c.header("cache-status", cacheStatusHeader(events.cache));
    // The data point waits for the `done` event's metadata; a stream that ends without one has none.
    const outcome = Promise.withResolvers<QueryOutcome>();
    c.set("queryOutcome", outcome.promise);
    const response = streamSSE(c, async (sse) => {
      try {
        for await (const event of events) {
          if (sse.aborted) return; // leaving the loop cancels the origin stream
          await sse.writeSSE(toSse(event, context.requestId));
          if (event.type === "done") outcome.resolve([event.metadata]);
        }
      } catch (error) {
        if (sse.aborted) return;
        c.var.log.error("query stream failed", errorFields(error));
        await sse.writeSSE(toSse({ type: "error", error: internalError() }, context.requestId)).catch(() => {});
      } finally {
        outcome.resolve([]);
      }
    });
    // streamSSE sets no-cache, which the shell's no-store default leaves alone: answers must never be stored.
    c.header("cache-control", "no-store");
    return response as never;
  });
  return queryRoutes;
}

function toSse(event: QueryEvent, requestId: string): { event: string; data: string } {
  switch (event.type) {
    case "sources":
      return { event: "sources", data: JSON.stringify(event.sources) };
    case "token":
      return { event: "token", data: JSON.stringify({ text: event.text }) };
    case "done":
      return { event: "done", data: JSON.stringify(event.metadata) };
    case "error":
      return { event: "error", data: JSON.stringify(toProblem(event.error, requestId)) };
  }
}

function acceptsEventStream(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => part.split(";")[0]!.trim().toLowerCase() === "text/event-stream");
}
