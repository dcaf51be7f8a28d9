import { defaultCondenseQuestionPrompt } from "@llamaindex/core/prompts";
import { type ChatTurn, condenseQuestionByRules, MAX_STANDALONE_CHARS, type RewriteMethod } from "../../../src/shared/condense-question.ts";
import { OpenAICompatibleLLM } from "./openai-llm.ts";

/**
 * The condense step of a conversation (port): the last user message rewritten into a standalone
 * question from the history, as LlamaIndex's condense-question chat engine does, so that retrieval
 * sees "how long does rotating an API key take?" rather than "and how long does that take?".
 * Adapters: `llm` (LlamaIndex's condense prompt on the configured OpenAI-compatible LLM) and `rules`
 * (offline: src/shared/condense-question.ts, which the worker also falls back to).
 *
 * Promise: `condense` resolves to a non-empty question of at most MAX_STANDALONE_CHARS. The LLM
 * adapter fails only with an AppError (UPSTREAM_*), within UPSTREAM_TIMEOUT_MS; the rules never fail.
 */
export interface QuestionCondenser {
  readonly name: "rules" | "llm";
  condense(history: readonly ChatTurn[], question: string, signal?: AbortSignal): Promise<{ question: string; method: RewriteMethod }>;
}

export function createRulesCondenser(): QuestionCondenser {
  return { name: "rules", condense: async (history, question) => condenseQuestionByRules(history, question) };
}

export function createLLMCondenser(options: {
  url: string;
  model: string;
  apiKey?: string | undefined;
  timeoutMs: number;
  contextWindow: number;
}): QuestionCondenser {
  return {
    name: "llm",
    async condense(history, question, signal) {
      // A question with no earlier user turn has nothing to condense: no LLM call.
      if (!history.some((turn) => turn.role === "user")) return { question: question.trim(), method: "none" };
      const llm = new OpenAICompatibleLLM({ ...options, maxTokens: 256, signal });
      const chatHistory = history.map((turn) => `${turn.role === "user" ? "Human" : "Assistant"}: ${turn.content}`).join("\n");
      const prompt = defaultCondenseQuestionPrompt.format({ chatHistory, question });
      const { text } = await llm.complete({ prompt });
      // The model's first line, as a question; an empty answer keeps the follow-up as written.
      const standalone = text.trim().split("\n")[0]!.trim().slice(0, MAX_STANDALONE_CHARS);
      return standalone === "" ? { question: question.trim(), method: "none" } : { question: standalone, method: "llm" };
    },
  };
}
