import type { CheckResult } from "../embeddings/port.ts";

export type Context = { id: string; text: string };
export type GenerateInput = {
  query: string;
  /** Non-empty: the route answers "cannot answer" itself when there is nothing to cite. */
  contexts: Context[];
  maxTokens: number;
  /** The sampling temperature (0..2); absent: the adapter's default. An adapter that does not sample ignores it. */
  temperature?: number | undefined;
  signal?: AbortSignal | undefined;
};
/**
 * What a finished generation reports; `completionTokens` is the backend's own count when it has one;
 * `finishReason` is "length" when the answer was cut at `maxTokens` (the backend said so, or the
 * adapter cut it), "stop" when it ended by itself, absent when the backend did not say.
 */
export type GenerateResult = { completionTokens?: number | undefined; finishReason?: "stop" | "length" | undefined };

/**
 * An answer generator (port). Adapters: `extractive` (offline, picks and cites context sentences) and
 * `openai` (any OpenAI-compatible chat completions server, vLLM in production, streamed).
 *
 * Promises:
 * - `generate` yields answer text deltas whose concatenation is the answer, of at most `maxTokens`
 *   tokens; the answer cites contexts as `[n]` (1-based). It fails (before or between deltas) only with an AppError: UPSTREAM_ERROR (502),
 *   UPSTREAM_UNAVAILABLE (503) or UPSTREAM_TIMEOUT (504).
 * - Latency budget: the first delta within UPSTREAM_TIMEOUT_MS and never more than UPSTREAM_TIMEOUT_MS
 *   between two deltas (remote); a few milliseconds (extractive).
 * - `check` never throws; it reports whether the backend can serve now (for /readyz).
 */
export interface AnswerGenerator {
  readonly name: "extractive" | "openai";
  readonly model: string;
  generate(input: GenerateInput): AsyncGenerator<string, GenerateResult>;
  check(): Promise<CheckResult>;
}
