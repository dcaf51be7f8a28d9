import { tokenizers } from "@llamaindex/env/tokenizers";
import { extractiveAnswer } from "../../../src/shared/extractive-answer.ts";
import type { AnswerGenerator, GenerateInput, GenerateResult } from "./port.ts";

/**
 * The offline default generator: no model, no network. It answers with the extractive answer that
 * the worker also falls back to (src/shared/extractive-answer.ts: the context sentences that best
 * match the query, by BM25, each cited), cut to max_tokens (cl100k tokens, at a word boundary). It does
 * not sample, so it ignores `temperature`: the same request always gets the same answer. Streams the
 * answer word by word so clients exercise the same streaming path as with an LLM.
 */
export function createExtractiveGenerator(): AnswerGenerator {
  return {
    name: "extractive",
    model: "extractive-bm25",

    async *generate(input: GenerateInput): AsyncGenerator<string, GenerateResult> {
      const whole = extractiveAnswer(input.query, input.contexts);
      const answer = fitTokens(whole, input.maxTokens);
      for (const word of answer.split(/(?<=\s)/)) yield word;
      return { completionTokens: countTokens(answer), finishReason: answer === whole ? "stop" : "length" };
    },

    async check() {
      return { ok: true, detail: "extractive synthesizer (no backend)" };
    },
  };
}

const countTokens = (text: string) => tokenizers.tokenizer().encode(text).length;

/** Cuts the answer at a word boundary so that it fits in `maxTokens` tokens (cl100k). */
function fitTokens(answer: string, maxTokens: number): string {
  if (countTokens(answer) <= maxTokens) return answer;
  const words = answer.split(/(?<=\s)/);
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (countTokens(words.slice(0, mid).join("").trimEnd()) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  return words.slice(0, Math.max(lo, 1)).join("").trimEnd();
}
