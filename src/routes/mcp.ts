import { OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../app-env";
import { ApiError, payloadTooLarge } from "../errors";
import { batchCost, MAX_BATCH_MESSAGES, oversizedBatch } from "../mcp/mcp-batch";
import { authenticate } from "../middleware/authenticate";
import { jsonDepthLimit } from "../middleware/json-depth";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, security, validationErrors } from "../schemas";
import { queryContext } from "./query-http";

/**
 * POST /mcp: the Model Context Protocol over streamable HTTP, stateless (no session ids: every
 * request is served by a fresh server and transport), JSON responses rather than SSE. Same
 * credentials, role (reader), rate limits and tenant scope as POST /v1/query: the tools call the
 * query service with the principal's tenant. GET (a server-initiated event stream) and DELETE (end
 * a session) have nothing to serve without sessions: 405, as the transport spec allows.
 */
export function createMcpRoutes() {
  const mcpRoutes = new OpenAPIHono<AppEnv>();

  const MCP_BODY_LIMIT = 64 * 1024;

  mcpRoutes.use(
    "/mcp",
    bodyLimit({
      maxSize: MCP_BODY_LIMIT,
      onError: () => {
        throw payloadTooLarge(MCP_BODY_LIMIT);
      },
    }),
    jsonDepthLimit,
  );

  mcpRoutes.post("/mcp", authenticate({ role: "reader" }), async (c) => {
    // The transport would read the body itself; the depth check already has, so hand it the parsed one.
    let parsedBody: unknown;
    if (/\bjson\b/i.test(c.req.header("content-type") ?? "")) {
      try {
        parsedBody = JSON.parse(await c.req.text());
      } catch {
        throw new ApiError("MALFORMED_REQUEST", "the body is not valid JSON");
      }
    }
    // A batch over the cap runs nothing and costs nothing; any other pays per message (mcp-batch.ts).
    const oversized = oversizedBatch(parsedBody);
    if (oversized) return c.json(oversized, 400);
    await chargeRoute(c, "query", batchCost(parsedBody));

    // Loaded on the first /mcp request, not at isolate start: the SDK builds its ~150 message schemas
    // when its module loads, and no other route needs them (the bundle still holds it: one file).
    const [{ WebStandardStreamableHTTPServerTransport }, { createMcpServer }] = await Promise.all([
      import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"),
      import("../mcp/mcp-server"),
    ]);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = createMcpServer({
      tenant: c.var.principal.tenant,
      query: c.var.services.query,
      chat: c.var.services.chat,
      context: queryContext(c),
      log: c.var.log,
    });
    await server.connect(transport);
    const response = await transport.handleRequest(c.req.raw, { parsedBody });
    // Tool results are per principal: never stored by a shared cache.
    response.headers.set("cache-control", "no-store");
    return response;
  });

  mcpRoutes.on(["GET", "DELETE"], "/mcp", () => {
    throw new ApiError("METHOD_NOT_ALLOWED", "this MCP server is stateless: send JSON-RPC messages with POST", {
      headers: { allow: "POST" },
    });
  });

  const jsonRpc = { "application/json": { schema: z.looseObject({}).openapi({ description: "A JSON-RPC 2.0 response" }) } };
  mcpRoutes.openAPIRegistry.registerPath({
    method: "post",
    path: "/mcp",
    operationId: "mcp",
    summary: "Model Context Protocol (streamable HTTP): tools `search` and `ask` for agents",
    description:
      "A stateless MCP server (no Mcp-Session-Id; JSON responses). `tools/list` describes the tools: `search` takes a " +
      "SearchRequest and returns a SearchResponse, `ask` takes a QueryRequest (without `stream`) and returns a QueryResponse, " +
      "both as `structuredContent`. Same credentials, role (reader), rate limits and tenant scope as /v1/query: each " +
      "`tools/call` costs one query token, other messages one token per four (at least one per request); a JSON-RPC batch " +
      `holds at most ${MAX_BATCH_MESSAGES} messages. A failed tool call is a result with \`isError: true\` whose text is a problem object. ` +
      "GET and DELETE answer 405. Send `Accept: application/json, text/event-stream`.",
    security,
    request: {
      body: {
        required: true,
        content: {
          "application/json": {
            schema: z.looseObject({}).openapi({ description: "A JSON-RPC 2.0 request or notification (or a batch of them)" }),
          },
        },
      },
    },
    responses: {
      200: { description: "The JSON-RPC response", content: jsonRpc },
      202: { description: "A notification or response was accepted (no body)" },
      ...authErrors,
      // The transport's refusals are JSON-RPC errors; the worker's own (credentials, size, depth) are problems.
      400: {
        description: `Not a JSON-RPC message, or a batch of more than ${MAX_BATCH_MESSAGES} (a JSON-RPC error); not JSON, too deep or AMBIGUOUS_CREDENTIALS (a problem)`,
        content: { ...jsonRpc, ...authErrors[400].content },
      },
      406: { description: "The Accept header does not allow application/json and text/event-stream", content: jsonRpc },
      413: validationErrors[413],
      415: { description: "The body is not JSON", content: jsonRpc },
    },
  });
  return mcpRoutes;
}
