import {
  BaseLLM,
  type ChatMessage,
  type ChatResponse,
  type ChatResponseChunk,
  type LLMChatParamsNonStreaming,
  type LLMChatParamsStreaming,
  type LLMMetadata,
} from "@llamaindex/core/llms";
import { extractText } from "@llamaindex/core/utils";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { z } from "zod";
import { AppError, clientClosed } from "../errors.ts";
import { ensureOk, joinUrl, toUpstreamError } from "../upstream.ts";

export type OpenAICompatibleOptions = {
  url: string;
  model: string;
  apiKey?: string | undefined;
  timeoutMs: number;
  contextWindow: number;
  maxTokens: number;
  /** Absent: DEFAULT_TEMPERATURE. */
  temperature?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Sent as the first message (the instructions), unless the messages already start with a system message. */
  systemPrompt?: string | undefined;
};

const WHAT = "generation backend";
/** Low: answers stay close to the sources' wording unless the request asks for more variety. */
export const DEFAULT_TEMPERATURE = 0.1;

// The OpenAI chat completions wire format (vLLM answers the same shape), as much of it as we read.
const completion = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string().nullable().optional() }), finish_reason: z.string().nullish() }))
    .min(1),
  usage: z.object({ completion_tokens: z.number().int() }).nullish(),
});
const chunk = z.object({
  choices: z
    .array(z.object({ delta: z.object({ content: z.string().nullish() }).nullish(), finish_reason: z.string().nullish() }))
    .optional(),
  usage: z.object({ completion_tokens: z.number().int() }).nullish(),
  error: z.unknown().optional(),
});

/**
 * A LlamaIndex.TS LLM for any OpenAI-compatible /chat/completions server, built per request so that it
 * carries the request's abort signal and counts the completion tokens the server reports.
 * Deadlines: the response headers within `timeoutMs`, then at most `timeoutMs` between two stream events.
 */
export class OpenAICompatibleLLM extends BaseLLM {
  completionTokens: number | undefined;
  /** The last call's finish_reason as the server sent it ("stop", "length", …); undefined until one says. */
  finishReason: string | undefined;
  readonly #options: OpenAICompatibleOptions;
  readonly #temperature: number;

  constructor(options: OpenAICompatibleOptions) {
    super();
    this.#options = options;
    this.#temperature = options.temperature ?? DEFAULT_TEMPERATURE;
  }

  get metadata(): LLMMetadata {
    return {
      model: this.#options.model,
      temperature: this.#temperature,
      topP: 1,
      maxTokens: this.#options.maxTokens,
      contextWindow: this.#options.contextWindow,
      tokenizer: undefined,
      structuredOutput: false,
    };
  }

  chat(params: LLMChatParamsStreaming): Promise<AsyncIterable<ChatResponseChunk>>;
  chat(params: LLMChatParamsNonStreaming): Promise<ChatResponse>;
  async chat(params: LLMChatParamsStreaming | LLMChatParamsNonStreaming): Promise<AsyncIterable<ChatResponseChunk> | ChatResponse> {
    if (params.stream) return this.#stream(params.messages);
    const deadline = this.#deadline();
    try {
      const response = await this.#post(params.messages, false, deadline.signal);
      const parsed = completion.safeParse(await response.json());
      if (!parsed.success) throw new AppError("UPSTREAM_ERROR", `The ${WHAT} answered in an unexpected format.`);
      this.#count(parsed.data.usage?.completion_tokens);
      this.finishReason = parsed.data.choices[0]!.finish_reason ?? undefined;
      return {
        message: { role: "assistant", content: parsed.data.choices[0]!.message.content ?? "" },
        raw: null,
      };
    } catch (err) {
      throw deadline.mapError(err);
    } finally {
      deadline.clear();
    }
  }

  async *#stream(messages: ChatMessage[]): AsyncGenerator<ChatResponseChunk> {
    const deadline = this.#deadline();
    try {
      const response = await this.#post(messages, true, deadline.signal);
      if (!response.body) throw new AppError("UPSTREAM_ERROR", `The ${WHAT} sent no body.`);
      const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
      for await (const event of events) {
        deadline.rearm();
        if (event.data === "[DONE]") return;
        const parsed = chunk.safeParse(safeJson(event.data));
        if (!parsed.success || parsed.data.error !== undefined) {
          throw new AppError("UPSTREAM_ERROR", `The ${WHAT} failed mid-stream.`);
        }
        this.#count(parsed.data.usage?.completion_tokens);
        const finish = parsed.data.choices?.[0]?.finish_reason;
        if (finish) this.finishReason = finish;
        const delta = parsed.data.choices?.[0]?.delta?.content;
        if (delta) yield { delta, raw: null };
      }
      // A stream that ends without [DONE] was cut off (server crash, proxy reset).
      throw new AppError("UPSTREAM_ERROR", `The ${WHAT} closed the stream early.`);
    } catch (err) {
      throw deadline.mapError(err);
    } finally {
      deadline.clear();
    }
  }

  async #post(messages: ChatMessage[], stream: boolean, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#options.apiKey) headers.authorization = `Bearer ${this.#options.apiKey}`;
    const system = this.#options.systemPrompt;
    const withSystem: ChatMessage[] =
      system && messages[0]?.role !== "system" ? [{ role: "system", content: system }, ...messages] : messages;
    const body = {
      model: this.#options.model,
      messages: withSystem.map((m) => ({
        role: m.role === "assistant" ? "assistant" : m.role === "system" ? "system" : "user",
        content: extractText(m.content),
      })),
      max_tokens: this.#options.maxTokens,
      temperature: this.#temperature,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    };
    const response = await fetch(joinUrl(this.#options.url, "chat/completions"), {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal,
    });
    return ensureOk(response, WHAT);
  }

  #count(tokens: number | undefined) {
    if (tokens !== undefined) this.completionTokens = (this.completionTokens ?? 0) + tokens;
  }

  /** One abort controller per upstream call: the caller's signal, plus a timer re-armed on every event. */
  #deadline() {
    const controller = new AbortController();
    const timeoutMs = this.#options.timeoutMs;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const onCallerAbort = () => controller.abort(this.#options.signal?.reason);
    this.#options.signal?.addEventListener("abort", onCallerAbort, { once: true });
    const rearm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
    };
    rearm();
    return {
      signal: controller.signal,
      rearm,
      clear: () => {
        clearTimeout(timer);
        this.#options.signal?.removeEventListener("abort", onCallerAbort);
        controller.abort(); // releases the socket if we stop reading early
      },
      mapError: (err: unknown) => (this.#options.signal?.aborted ? clientClosed(err) : toUpstreamError(WHAT, timeoutMs, err, timedOut)),
    };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
