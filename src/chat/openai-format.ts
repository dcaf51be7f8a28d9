import { estimateTokens } from "../answer/token-estimate";
import type { ApiError } from "../errors";
import type { QueryMetadata, Source } from "../query/schemas";
import type { ChatAnswer, Rewrite } from "./chat-service";
import { textOf } from "./messages";
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, OpenAIError } from "./schemas";

/**
 * The conversation use case's results in OpenAI's wire format: a `chat.completion`, the chunks of a
 * streamed one, and OpenAI's error body. What a route serialises; nothing here does I/O.
 */

/** What every object of one completion shares. */
export interface CompletionFrame {
  id: string;
  created: number;
  model: string;
  /** The worker's own origin (scheme, host, port): where `citations` point. */
  baseUrl: string;
  messages: readonly ChatMessage[];
}

export const completionFrame = (requestId: string, model: string, baseUrl: string, messages: readonly ChatMessage[]): CompletionFrame => ({
  id: `chatcmpl-${requestId}`,
  created: Math.floor(Date.now() / 1000),
  model,
  baseUrl,
  messages,
});

export function usageOf(frame: CompletionFrame, sources: readonly Source[], answer: string) {
  const prompt = frame.messages.reduce((sum, message) => sum + estimateTokens(textOf(message.content)), 0);
  const context = sources.reduce((sum, source) => sum + estimateTokens(source.text), 0);
  const completion = estimateTokens(answer);
  return { prompt_tokens: prompt + context, completion_tokens: completion, total_tokens: prompt + context + completion };
}

/** Perplexity's pair: one URL per source (`citations`), and the sources themselves (`search_results`). */
export function citationsOf(frame: CompletionFrame, sources: readonly Source[]) {
  const urlOf = (source: Source) => `${frame.baseUrl}/v1/documents/${encodeURIComponent(source.document_id)}`;
  return {
    citations: sources.map(urlOf),
    search_results: sources.map((source) => ({
      ...source,
      title: typeof source.metadata.title === "string" && source.metadata.title !== "" ? source.metadata.title : source.document_id,
      url: urlOf(source),
      snippet: source.text,
    })),
  };
}

const header = (frame: CompletionFrame) => ({ id: frame.id, created: frame.created, model: frame.model, system_fingerprint: null });

export function toCompletion(frame: CompletionFrame, { rewrite, response }: ChatAnswer): ChatCompletion {
  return {
    ...header(frame),
    object: "chat.completion",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: response.answer, refusal: null },
        logprobs: null,
        finish_reason: finishReason(response.metadata),
      },
    ],
    usage: usageOf(frame, response.sources, response.answer),
    ...citationsOf(frame, response.sources),
    edge_rag: { rewrite, metadata: response.metadata },
  };
}

type Delta = ChatCompletionChunk["choices"][number]["delta"];
const chunk = (
  frame: CompletionFrame,
  delta: Delta,
  finish: "stop" | "length" | null,
  extra: Partial<ChatCompletionChunk> = {},
): ChatCompletionChunk => ({
  ...header(frame),
  object: "chat.completion.chunk",
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  ...extra,
});

/** The first chunk: the assistant's role, with the sources (the answer's `[n]` refer to them). */
export const firstChunk = (frame: CompletionFrame, sources: readonly Source[]) =>
  chunk(frame, { role: "assistant", content: "" }, null, citationsOf(frame, sources));

export const contentChunk = (frame: CompletionFrame, text: string) => chunk(frame, { content: text }, null);

/** The chunk that ends the choice, with how the answer was made. */
export const finalChunk = (frame: CompletionFrame, rewrite: Rewrite, metadata: QueryMetadata) =>
  chunk(frame, {}, finishReason(metadata), { edge_rag: { rewrite, metadata } });

/** OpenAI's finish_reason: "length" when the answer was cut at max_tokens (the generator said so), else "stop". */
const finishReason = (metadata: QueryMetadata): "stop" | "length" => (metadata.finish_reason === "length" ? "length" : "stop");

/** With stream_options.include_usage: a last chunk with no choices, as OpenAI sends it. */
export const usageChunk = (frame: CompletionFrame, sources: readonly Source[], answer: string): ChatCompletionChunk => ({
  ...header(frame),
  object: "chat.completion.chunk",
  choices: [],
  usage: usageOf(frame, sources, answer),
});

// ── Errors ────────────────────────────────────────────────────────────────────────────────────

/** The routes that answer in OpenAI's shape, errors included; every other route answers problem+json. */
export const isOpenAIPath = (path: string) => path === "/v1/models" || path.startsWith("/v1/models/") || path.startsWith("/v1/chat/");

// OpenAI's own codes where one means the same thing; SDKs branch on the status, some clients on these.
const OPENAI_CODES: Partial<Record<ApiError["code"], string>> = {
  API_KEY_INVALID: "invalid_api_key",
  MODEL_NOT_FOUND: "model_not_found",
  RATE_LIMITED: "rate_limit_exceeded",
};

function typeOf(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export function toOpenAIError(error: ApiError, requestId: string): OpenAIError {
  const fields = error.extensions.errors as Array<{ path: string }> | undefined;
  return {
    error: {
      message: error.detail,
      type: typeOf(error.status),
      code: OPENAI_CODES[error.code] ?? error.code.toLowerCase(),
      param: fields?.[0]?.path || null,
      request_id: requestId,
    },
  };
}

/** The same status and headers (WWW-Authenticate, Retry-After, RateLimit-*) as the problem, in OpenAI's body. */
export function openAIErrorResponse(error: ApiError, requestId: string): Response {
  return new Response(JSON.stringify(toOpenAIError(error, requestId)), {
    status: error.status,
    headers: { ...error.headers, "content-type": "application/json", "x-request-id": requestId },
  });
}
