import { z } from "@hono/zod-openapi";
import { queryResponseSchemas, querySchemas } from "../query/schemas";
import { filtersSchema } from "../retrieval/filters";
import { MAX_ANSWER_TOKENS, MAX_TEMPERATURE, MIN_TEMPERATURE } from "../shared/origin-contract";
import { BASE_MODEL, textOf } from "./messages";

/**
 * POST /v1/chat/completions and GET /v1/models in OpenAI's wire format, declared once: the route
 * validates and documents with them, the service and tests use the inferred types. The fields are
 * OpenAI's (https://platform.openai.com/docs/api-reference/chat); what edge-rag adds is marked as an
 * extension and follows Perplexity's convention, which OpenAI SDKs pass through untouched:
 * `citations` (one URL per source, `[n]` in the content is `citations[n-1]`) and `search_results`
 * (the sources themselves). `edge_rag` says how the answer was made (the standalone question).
 */

/**
 * Built on first use, not at module load: a cold isolate answering POST /v1/query never builds them
 * (worker.ts: the groups other than the query routes are built on their first request).
 */
let built: ReturnType<typeof build> | undefined;
export const chatSchemas = () => (built ??= build());

function build() {
  const { RetrievalModeSchema } = querySchemas();
  const { QueryMetadataSchema, SourceSchema } = queryResponseSchemas();
  const FiltersSchema = filtersSchema();
  const MAX_MESSAGES = 64;
  /** Per message; the last user message (the question) is also held to the query limit. */
  const MAX_MESSAGE_CHARS = 32_000;
  const MAX_QUESTION_CHARS = 2000;

  const TextPartSchema = z.strictObject({ type: z.literal("text"), text: z.string().max(MAX_MESSAGE_CHARS) });
  const ContentSchema = z
    .union([z.string().max(MAX_MESSAGE_CHARS), z.array(TextPartSchema).max(32)])
    .openapi({ description: "A string, or text content parts (`{type: 'text', text}`); images and audio are not accepted" });

  const name = z.string().max(64).optional();
  const ChatMessageSchema = z
    .discriminatedUnion("role", [
      z.strictObject({ role: z.enum(["system", "developer"]), content: ContentSchema, name }),
      z.strictObject({ role: z.literal("user"), content: ContentSchema, name }),
      z.strictObject({
        role: z.literal("assistant"),
        content: ContentSchema.nullable(),
        name,
        refusal: z.string().nullish(),
      }),
    ])
    .openapi("ChatMessage", {
      description:
        "system/developer messages are accepted and not used: the answer's rules are the server's (grounded in the sources, " +
        "cited). user and assistant messages are the conversation; tool messages and tool calls are not accepted.",
    });

  const ignored = (description: string) => ({ description: `Accepted for compatibility; ${description}` });

  const ChatCompletionRequestSchema = z
    .strictObject({
      model: z.string().min(1).max(256).openapi({
        description: "`edge-rag` (every collection) or `edge-rag/<collection>` (retrieval restricted to it): see GET /v1/models",
        example: BASE_MODEL,
      }),
      messages: z
        .array(ChatMessageSchema)
        .min(1)
        .max(MAX_MESSAGES)
        .superRefine((messages, context) => {
          const last = messages.at(-1);
          if (last?.role !== "user") return void context.addIssue({ code: "custom", message: "the last message must be the user's" });
          const question = textOf(last.content).trim();
          if (question === "" || question.length > MAX_QUESTION_CHARS) {
            context.addIssue({
              code: "custom",
              path: [messages.length - 1, "content"],
              message: `the question must have 1 to ${MAX_QUESTION_CHARS} characters`,
            });
          }
        })
        .openapi({
          description:
            "The conversation, oldest first; the last is the user's question. Before retrieval it is rewritten into a standalone " +
            "question from the earlier turns (condense-question); the server stores no conversation.",
        }),
      stream: z.boolean().nullish().openapi({ description: "true: `chat.completion.chunk` server-sent events, then `data: [DONE]`" }),
      stream_options: z
        .strictObject({ include_usage: z.boolean().optional() })
        .nullish()
        .openapi({ description: "include_usage: a last chunk with empty choices and `usage`, as OpenAI sends it" }),
      temperature: z
        .number()
        .min(MIN_TEMPERATURE)
        .max(MAX_TEMPERATURE)
        .nullish()
        .openapi({
          description:
            "The sampling temperature of the origin's LLM (its default, 0.1, when absent). The offline extractive generator and " +
            "the edge's fallback answer do not sample and ignore it. Part of the cache key.",
        }),
      top_p: z.number().min(0).max(1).nullish().openapi(ignored("not applied")),
      max_tokens: z
        .number()
        .int()
        .min(1)
        .max(MAX_ANSWER_TOKENS)
        .nullish()
        .openapi({
          description:
            "The most tokens the answer may have (512 when absent): the LLM stops there; the extractive generator cuts its " +
            "answer at a word boundary to fit; the edge's fallback answer is held to it by an estimate (four characters a " +
            "token). Part of the cache key: an answer cut short is never served for a longer request.",
        }),
      max_completion_tokens: z
        .number()
        .int()
        .min(1)
        .max(MAX_ANSWER_TOKENS)
        .nullish()
        .openapi({ description: "OpenAI's newer name for max_tokens; with both, they must be equal" }),
      n: z.literal(1).nullish().openapi({ description: "One choice only" }),
      user: z.string().max(256).optional().openapi(ignored("neither stored nor logged")),
      stop: z
        .union([z.string(), z.array(z.string()).max(4)])
        .nullish()
        .openapi(ignored("not applied")),
      presence_penalty: z.number().min(-2).max(2).nullish().openapi(ignored("not applied")),
      frequency_penalty: z.number().min(-2).max(2).nullish().openapi(ignored("not applied")),
      seed: z.number().int().nullish().openapi(ignored("answers are deterministic for a given index and cache")),
      // edge-rag extensions (an OpenAI SDK sends them as extra body fields): POST /v1/query's options.
      top_k: z.number().int().min(1).max(50).default(5).openapi({ description: "Extension: how many sources to retrieve and answer from" }),
      mode: RetrievalModeSchema.default("hybrid").openapi({ description: "Extension: hybrid (default), vector or keyword retrieval" }),
      filters: FiltersSchema.optional().openapi({
        description: "Extension: filters on document metadata, as POST /v1/query's; the model's collection, if any, wins over `collection`",
      }),
      explain: z.boolean().default(false).openapi({ description: "Extension: each search result carries `ranks` and `scores` per stage" }),
      cache: z.boolean().default(true).openapi({ description: "Extension: false bypasses the query cache" }),
    })
    .superRefine((request, context) => {
      const { max_tokens, max_completion_tokens } = request;
      if (max_tokens != null && max_completion_tokens != null && max_tokens !== max_completion_tokens) {
        context.addIssue({
          code: "custom",
          path: ["max_completion_tokens"],
          message: "max_tokens and max_completion_tokens name the same limit: send one, or the same value in both",
        });
      }
    })
    .openapi("ChatCompletionRequest");

  // ── Responses ─────────────────────────────────────────────────────────────────────────────────

  const RewriteSchema = z
    .object({
      standalone_question: z.string().openapi({ description: "What was retrieved and answered: the last user message, condensed" }),
      method: z.enum(["none", "rules", "llm"]).openapi({
        description:
          "none: no earlier turn, or the message stood alone; llm: the origin's LLM with LlamaIndex's condense prompt; rules: the " +
          "offline rewrite, carrying the earlier turns' key terms into an elliptical follow-up",
      }),
    })
    .openapi("ChatRewrite");

  const ChatExtensionSchema = z
    .object({ rewrite: RewriteSchema, metadata: QueryMetadataSchema })
    .openapi("ChatExtension", { description: "Extension: how the answer was made (the query API's metadata: cache, degraded, timings)" });

  const SearchResultSchema = SourceSchema.extend({
    title: z.string().openapi({ description: "The document's `title` metadata, else its id" }),
    url: z.string().openapi({ description: "The document on this API: GET it with the same credentials" }),
    snippet: z.string().openapi({ description: "The source text (as `text`)" }),
  }).openapi("ChatSearchResult", {
    description:
      "Extension (Perplexity's `search_results`): a source of the answer, as POST /v1/query returns it, with title, url, snippet",
  });

  const CitationsSchema = z.array(z.string()).openapi({
    description: "Extension (Perplexity's convention): one URL per source; a `[n]` marker in the content refers to citations[n-1]",
  });

  const UsageSchema = z
    .object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() })
    .openapi("ChatUsage", {
      description:
        "Estimated at the edge (about four characters a token): prompt = the messages and the sources' text; completion = the answer",
    });

  const completionShape = {
    id: z.string().openapi({ example: "chatcmpl-3f2a…" }),
    created: z.number().int().openapi({ description: "Unix seconds" }),
    model: z.string(),
    system_fingerprint: z.string().nullable(),
  };

  const ChatCompletionSchema = z
    .object({
      ...completionShape,
      object: z.literal("chat.completion"),
      choices: z.array(
        z.object({
          index: z.number().int(),
          message: z.object({ role: z.literal("assistant"), content: z.string(), refusal: z.null() }),
          logprobs: z.null(),
          finish_reason: z.enum(["stop", "length"]).openapi({ description: "length: the answer was cut at max_tokens" }),
        }),
      ),
      usage: UsageSchema,
      citations: CitationsSchema,
      search_results: z.array(SearchResultSchema),
      edge_rag: ChatExtensionSchema,
    })
    .openapi("ChatCompletion");

  const ChatCompletionChunkSchema = z
    .object({
      ...completionShape,
      object: z.literal("chat.completion.chunk"),
      choices: z.array(
        z.object({
          index: z.number().int(),
          delta: z.object({ role: z.literal("assistant").optional(), content: z.string().optional() }),
          logprobs: z.null(),
          finish_reason: z.enum(["stop", "length"]).nullable(),
        }),
      ),
      usage: UsageSchema.nullish().openapi({ description: "Only on the last chunk (empty choices), with stream_options.include_usage" }),
      citations: CitationsSchema.optional().openapi({ description: "On the first chunk" }),
      search_results: z.array(SearchResultSchema).optional().openapi({ description: "On the first chunk" }),
      edge_rag: ChatExtensionSchema.optional().openapi({ description: "On the chunk with finish_reason" }),
    })
    .openapi("ChatCompletionChunk", {
      description: "One `data:` event of a streamed completion; the stream ends with `data: [DONE]`",
    });

  const ModelSchema = z
    .object({ id: z.string(), object: z.literal("model"), created: z.number().int(), owned_by: z.string() })
    .openapi("Model");
  const ModelListSchema = z.object({ object: z.literal("list"), data: z.array(ModelSchema) }).openapi("ModelList");

  /** OpenAI's error body: what its SDKs read to raise AuthenticationError, RateLimitError and the rest. */
  const OpenAIErrorSchema = z
    .object({
      error: z.object({
        message: z.string(),
        type: z.string().openapi({
          description:
            "invalid_request_error (400, 404, 413, 415), authentication_error (401), permission_error (403), rate_limit_error " +
            "(429), server_error (5xx)",
        }),
        code: z.string().openapi({
          description: "OpenAI's where one applies (invalid_api_key, model_not_found, rate_limit_exceeded), else edge-rag's code",
        }),
        param: z.string().nullable(),
        request_id: z.string(),
      }),
    })
    .openapi("OpenAIError", { description: "The error shape of the OpenAI-compatible routes (every other route answers problem+json)" });
  return {
    ChatMessageSchema,
    ChatCompletionRequestSchema,
    RewriteSchema,
    ChatExtensionSchema,
    SearchResultSchema,
    UsageSchema,
    ChatCompletionSchema,
    ChatCompletionChunkSchema,
    ModelSchema,
    ModelListSchema,
    OpenAIErrorSchema,
  };
}

type Schemas = ReturnType<typeof build>;
export type ChatMessage = z.infer<Schemas["ChatMessageSchema"]>;
export type ChatCompletionRequest = z.infer<Schemas["ChatCompletionRequestSchema"]>;
export type ChatCompletion = z.infer<Schemas["ChatCompletionSchema"]>;
export type ChatCompletionChunk = z.infer<Schemas["ChatCompletionChunkSchema"]>;
export type Model = z.infer<Schemas["ModelSchema"]>;
export type OpenAIError = z.infer<Schemas["OpenAIErrorSchema"]>;
