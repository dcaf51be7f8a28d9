import { OriginBadResponse, OriginFailure, OriginStreamFailed, OriginTimeout } from "../errors";
import { errorFields, log } from "../logger";
import type { OriginClient } from "../origin/origin-client";
import type { GenerationOptions } from "../query/schemas";
import { extractiveAnswerParts, NO_SOURCES_ANSWER } from "../shared/extractive-answer";
import { readSseEvents } from "../sse-events";
import type { AnswerGuard } from "./answer-guard";
import { fitParts } from "./token-estimate";

/**
 * Answers a question from retrieved sources: with the origin's generator when it can, else with
 * the edge's extractive answer (degraded). Sources are numbered from 1 in the order given, which
 * is what `[n]` citations refer to in either case. Every answer passes the answer guard
 * (answer-guard.ts): citations of sources that do not exist, and links and images that no source
 * contains, never reach a client or the cache, whatever the origin's model was talked into.
 *
 * Generation options (max_tokens, temperature) go to the origin as they are; the edge's answer does
 * not sample (no temperature) and is held to max_tokens by an estimate (token-estimate.ts).
 */

/** A stalled origin stream (silent between two chunks for this long) ends as ORIGIN_TIMEOUT. */
export const STREAM_IDLE_TIMEOUT_MS = 20_000;
const STREAM_IDLE = {
  idleTimeoutMs: STREAM_IDLE_TIMEOUT_MS,
  idleError: (ms: number) => new OriginTimeout(`the origin's answer stream was silent for ${ms} ms`),
};

export interface AnswerSource {
  id: string;
  text: string;
}

/** "length": the answer was cut at max_tokens; "stop": it ended by itself; absent: the origin did not say. */
export type FinishReason = "stop" | "length";

export interface AnswerOutcome {
  answer: string;
  /** True when the edge answered because the origin could not. */
  degraded: boolean;
  generate_ms: number;
  finish_reason?: FinishReason;
}

export type AnswerEvent =
  | { type: "token"; text: string }
  | { type: "done"; degraded: boolean; generate_ms: number; finish_reason?: FinishReason }
  | { type: "error"; error: OriginFailure };

/**
 * The guard, with its CommonMark parser (micromark, ~90 KiB of the bundle), loaded on the first
 * generated answer rather than at isolate start: a cache hit never needs it (worker.ts).
 */
const answerGuard = async (sources: readonly AnswerSource[]): Promise<AnswerGuard> =>
  (await import("./answer-guard")).createAnswerGuard(sources);

const contextsOf = (sources: readonly AnswerSource[]) => sources.map(({ id, text }) => ({ id, text }));

/** The edge's extractive answer as parts, held to max_tokens when the request set one (`finish_reason` "length" when that cut it). */
function edgeParts(
  query: string,
  sources: readonly AnswerSource[],
  options: GenerationOptions,
): { parts: string[]; finish_reason: FinishReason } {
  const all = extractiveAnswerParts(query, sources);
  const parts = options.max_tokens === undefined ? all : fitParts(all, options.max_tokens);
  return { parts, finish_reason: parts.length < all.length || parts.join(" ") !== all.join(" ") ? "length" : "stop" };
}

export async function generateAnswer(
  origin: OriginClient,
  query: string,
  sources: readonly AnswerSource[],
  options: GenerationOptions = {},
): Promise<AnswerOutcome> {
  // Nothing to ground an answer in: say so rather than let a model answer from nowhere.
  if (sources.length === 0) return { answer: NO_SOURCES_ANSWER, degraded: false, generate_ms: 0 };
  const started = performance.now();
  const guard = await answerGuard(sources);
  try {
    const result = await origin.generate({ query, contexts: contextsOf(sources), ...options });
    const answer = typeof result.answer === "string" ? guard.clean(result.answer) : "";
    if (answer === "") throw new OriginBadResponse("the origin returned no answer");
    return {
      answer,
      degraded: false,
      generate_ms: performance.now() - started,
      ...(result.finish_reason ? { finish_reason: result.finish_reason } : {}),
    };
  } catch (error) {
    if (!(error instanceof OriginFailure)) throw error;
    logGenerationFailure(error, "edge answer");
    const edge = edgeParts(query, sources, options);
    return {
      answer: guard.clean(edge.parts.join(" ")),
      degraded: true,
      generate_ms: performance.now() - started,
      finish_reason: edge.finish_reason,
    };
  }
}

/**
 * Streams the answer as `token` deltas then `done`. Tokens come from the origin's SSE stream;
 * if the origin fails before its first token, the extractive answer is streamed instead
 * (degraded). A failure after tokens were sent cannot be taken back: it ends with `error`.
 */
export async function* streamAnswer(
  origin: OriginClient,
  query: string,
  sources: readonly AnswerSource[],
  options: GenerationOptions = {},
): AsyncGenerator<AnswerEvent> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  if (sources.length === 0) {
    yield { type: "token", text: NO_SOURCES_ANSWER };
    yield { type: "done", degraded: false, generate_ms: 0 };
    return;
  }

  const guard = await answerGuard(sources);
  // Cleans as it streams, holding back an unfinished link or citation until it is complete.
  const cleaner = guard.stream();
  let sent = false;
  let failure: OriginFailure | undefined;
  try {
    const body = await origin.generateStream({ query, contexts: contextsOf(sources), ...options });
    for await (const event of readSseEvents(body, STREAM_IDLE)) {
      if (event.event === "token") {
        const text = tokenText(event.data);
        if (text === undefined) throw new OriginBadResponse("the origin sent a malformed token event");
        const clean = cleaner.push(text);
        if (clean === "") continue;
        sent = true;
        yield { type: "token", text: clean };
      } else if (event.event === "done") {
        const rest = cleaner.flush();
        if (rest.trim() !== "" || (sent && rest !== "")) {
          sent = true;
          yield { type: "token", text: rest };
        }
        // An answer without a single token is no answer: fall back like the non-streamed path.
        if (!sent) throw new OriginBadResponse("the origin's answer stream was empty");
        const finish = finishReasonOf(event.data);
        yield { type: "done", degraded: false, generate_ms: elapsed(), ...(finish ? { finish_reason: finish } : {}) };
        return;
      } else if (event.event === "error") {
        // The origin's problem body stays here; the client gets our own problem.
        throw new OriginStreamFailed("the origin failed while generating the answer");
      }
    }
    throw new OriginStreamFailed("the origin's answer stream ended early");
  } catch (error) {
    failure = error instanceof OriginFailure ? error : streamError(error);
  }

  logGenerationFailure(failure, sent ? "error event" : "edge answer");
  if (sent) {
    yield { type: "error", error: failure };
    return;
  }
  // Through a fresh stream guard: its pieces join to exactly what `clean` makes of the whole answer.
  const edge = guard.stream();
  const { parts, finish_reason } = edgeParts(query, sources, options);
  for (const [index, part] of parts.entries()) {
    const text = edge.push(index === 0 ? part : ` ${part}`);
    if (text !== "") yield { type: "token", text };
  }
  const rest = edge.flush();
  if (rest !== "") yield { type: "token", text: rest };
  yield { type: "done", degraded: true, generate_ms: elapsed(), finish_reason };
}

/** The `finish_reason` of the origin's `done` event, when it sent a known one. */
function finishReasonOf(data: string): FinishReason | undefined {
  try {
    const reason = (JSON.parse(data) as { finish_reason?: unknown } | null)?.finish_reason;
    return reason === "stop" || reason === "length" ? reason : undefined;
  } catch {
    return undefined;
  }
}

function tokenText(data: string): string | undefined {
  try {
    const value: unknown = JSON.parse(data);
    const text = value !== null && typeof value === "object" ? (value as { text?: unknown }).text : undefined;
    return typeof text === "string" ? text : undefined;
  } catch {
    return undefined;
  }
}

/** A body that breaks mid-read (timeout, reset) surfaces as a DOMException or TypeError. */
function streamError(error: unknown): OriginFailure {
  if (error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return new OriginTimeout("the origin did not finish the answer in time");
  }
  return new OriginStreamFailed("the origin's answer stream broke");
}

function logGenerationFailure(error: OriginFailure, outcome: "edge answer" | "error event"): void {
  log.warn("answer generation failed", { outcome, ...errorFields(error) });
}
