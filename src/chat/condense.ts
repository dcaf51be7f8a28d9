import { OriginFailure } from "../errors";
import { errorFields, log } from "../logger";
import type { Origins } from "../origin/origin-client";
import { type ChatTurn, condenseQuestionByRules, MAX_STANDALONE_CHARS, type RewriteMethod } from "../shared/condense-question";

/**
 * The condense step of a conversation (port): the last user message as a standalone question, so
 * that retrieval and the query cache see "how long until a revoked API key stops working" rather
 * than "and how long does that take?".
 *
 * Promise: never fails. A message with no earlier user turn is returned as written, with no call.
 * Otherwise the origin condenses it (its LLM's condense prompt, or its offline rules when it has no
 * LLM); when no origin can, the worker applies the same offline rules (src/shared/condense-question.ts).
 * Latency: none for a first message; one origin call (an LLM completion of a few tokens) otherwise.
 */
export interface QuestionCondenser {
  condense(tenant: string, history: readonly ChatTurn[], question: string): Promise<{ question: string; method: RewriteMethod }>;
}

export function createQuestionCondenser(origin: Origins): QuestionCondenser {
  return {
    async condense(tenant, history, question) {
      if (!history.some((turn) => turn.role === "user")) return { question: question.trim(), method: "none" };
      try {
        const condensed = await origin.forTenant(tenant).condense({ history: [...history], question });
        // Held to the query limit whatever the origin's LLM wrote.
        return { question: condensed.question.slice(0, MAX_STANDALONE_CHARS), method: condensed.method };
      } catch (error) {
        if (!(error instanceof OriginFailure)) throw error;
        log.warn("condense failed; offline rules used", errorFields(error));
        return condenseQuestionByRules(history, question);
      }
    },
  };
}
