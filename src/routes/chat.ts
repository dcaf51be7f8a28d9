import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { AppEnv, QueryOutcome } from "../app-env";
import { generationOf } from "../chat/messages";
import { completionFrame, contentChunk, finalChunk, firstChunk, toCompletion, toOpenAIError, usageChunk } from "../chat/openai-format";
import { chatSchemas } from "../chat/schemas";
import { internalError } from "../errors";
import { errorFields } from "../logger";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute, rateLimit } from "../middleware/rate-limit";
import type { Source } from "../query/schemas";
import { jsonBody, security } from "../schemas";
import { cacheStatusHeader, queryContext } from "./query-http";

/**
 * POST /v1/chat/completions and GET /v1/models: the OpenAI-compatible face of the conversation use
 * case (chat/chat-service.ts), so that OpenAI's SDKs, LlamaIndex's OpenAI LLM and chat front ends use
 * edge-rag unchanged. Same credentials (a Bearer API key or token), rate limits, quotas and cache as
 * POST /v1/query. Errors on these routes are OpenAI's `{"error": {…}}` with the same status codes
 * (app-shell.ts renders them), so SDKs raise AuthenticationError, RateLimitError and the rest.
 */
export function createChatRoutes() {
  const chatRoutes = new OpenAPIHono<AppEnv>();
  const { ChatCompletionRequestSchema, ChatCompletionSchema, ModelListSchema, OpenAIErrorSchema } = chatSchemas();

  const openAIError = (description: string) => ({ description, content: { "application/json": { schema: OpenAIErrorSchema } } });
  const errors = {
    400: openAIError("invalid_request_error: the request is invalid (`param` names the first offending field)"),
    401: openAIError("authentication_error: missing or invalid credentials (code invalid_api_key for an unknown key)"),
    403: openAIError("permission_error: authenticated, but not a reader"),
    429: openAIError("rate_limit_error (code rate_limit_exceeded): see Retry-After"),
    503: openAIError("server_error: a dependency is unavailable; see Retry-After"),
  };

  const completions = createRoute({
    method: "post",
    path: "/v1/chat/completions",
    operationId: "createChatCompletion",
    summary: "Answer the last message of a conversation, with citations, in OpenAI's chat completions format",
    description:
      "The last user message is condensed into a standalone question from the earlier turns (`edge_rag.rewrite`), which is " +
      "answered like POST /v1/query: retrieved (from the model's collection), answered with `[n]` citations, cached under the " +
      "standalone question. Extensions, Perplexity's convention: `citations` (a URL per source) and `search_results` (the " +
      "sources). With `stream: true`: `chat.completion.chunk` server-sent events (the first with the sources, the one with " +
      'finish_reason with `edge_rag`), then `data: [DONE]`; an error after the first byte is a `data: {"error": {…}}` event.',
    security,
    // Rate-limited in the handler, after validation: an invalid request costs no token.
    middleware: [authenticate({ role: "reader" })],
    request: { body: jsonBody(ChatCompletionRequestSchema) },
    responses: {
      200: {
        description: "A chat.completion (JSON), or chat.completion.chunk server-sent events ending in `data: [DONE]`",
        content: { "application/json": { schema: ChatCompletionSchema }, "text/event-stream": { schema: z.string() } },
      },
      ...errors,
      404: openAIError("invalid_request_error (code model_not_found): not `edge-rag` or `edge-rag/<collection>` of this tenant"),
      413: openAIError("invalid_request_error: the body is too large"),
      415: openAIError("invalid_request_error: the body is not JSON"),
    },
  });

  chatRoutes.openapi(completions, async (c) => {
    const request = c.req.valid("json");
    await chargeRoute(c, "query");
    const context = queryContext(c);
    const { tenant } = c.var.principal;
    const { chat } = c.var.services;
    const frame = completionFrame(context.requestId, request.model, new URL(c.req.url).origin, request.messages);
    const { model, messages, top_k, mode, filters, explain, cache } = request;
    const conversation = { model, messages, top_k, mode, filters, explain, cache, generation: generationOf(request) };

    if (!request.stream) {
      const answer = await chat.answer(tenant, conversation, context);
      c.header("cache-status", cacheStatusHeader(answer.response.metadata));
      c.set("queryOutcome", [answer.response.metadata]);
      return c.json(toCompletion(frame, answer), 200);
    }
    // Condensing and retrieval happen before any byte is sent, so their failures are ordinary error responses.
    const { rewrite, events } = await chat.stream(tenant, conversation, context);
    c.header("cache-status", cacheStatusHeader(events.cache));
    const outcome = Promise.withResolvers<QueryOutcome>();
    c.set("queryOutcome", outcome.promise);
    const response = streamSSE(c, async (sse) => {
      const send = (payload: unknown) => sse.writeSSE({ data: JSON.stringify(payload) });
      let sources: Source[] = [];
      let answer = "";
      try {
        for await (const event of events) {
          if (sse.aborted) return; // leaving the loop cancels the origin stream
          if (event.type === "sources") {
            sources = event.sources;
            await send(firstChunk(frame, sources));
          } else if (event.type === "token") {
            answer += event.text;
            await send(contentChunk(frame, event.text));
          } else if (event.type === "done") {
            outcome.resolve([event.metadata]);
            await send(finalChunk(frame, rewrite, event.metadata));
            if (request.stream_options?.include_usage) await send(usageChunk(frame, sources, answer));
            await sse.writeSSE({ data: "[DONE]" });
          } else {
            // OpenAI's SDKs raise an APIError for an `error` object in the stream.
            await send(toOpenAIError(event.error, context.requestId));
          }
        }
      } catch (error) {
        if (sse.aborted) return;
        c.var.log.error("chat stream failed", errorFields(error));
        await send(toOpenAIError(internalError(), context.requestId)).catch(() => {});
      } finally {
        outcome.resolve([]);
      }
    });
    // Answers are never stored by a shared cache.
    c.header("cache-control", "no-store");
    return response as never;
  });

  const models = createRoute({
    method: "get",
    path: "/v1/models",
    operationId: "listModels",
    summary: "What this tenant can ask: `edge-rag` (every collection), and `edge-rag/<collection>` per collection",
    security,
    middleware: [authenticate({ role: "reader" }), rateLimit("query")],
    responses: {
      200: { description: "OpenAI's model list", content: { "application/json": { schema: ModelListSchema } } },
      ...errors,
    },
  });

  chatRoutes.openapi(models, async (c) => {
    const data = await c.var.services.chat.models(c.var.principal.tenant);
    return c.json({ object: "list" as const, data }, 200);
  });

  return chatRoutes;
}
