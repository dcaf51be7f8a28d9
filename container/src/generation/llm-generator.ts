import { PromptHelper } from "@llamaindex/core/indices";
import { getResponseSynthesizer } from "@llamaindex/core/response-synthesizers";
import { TextNode } from "@llamaindex/core/schema";
import { joinUrl, probeUpstream } from "../upstream.ts";
import { OpenAICompatibleLLM } from "./openai-llm.ts";
import type { AnswerGenerator, GenerateInput, GenerateResult } from "./port.ts";
import { ANSWER_SYSTEM_PROMPT, citationQAPrompt, citationRefinePrompt, escapeData, labelContext } from "./prompts.ts";

export type LLMGeneratorOptions = {
  url: string;
  model: string;
  apiKey?: string | undefined;
  timeoutMs: number;
  contextWindow: number;
};

/**
 * Generation on an OpenAI-compatible LLM (vLLM in production) through LlamaIndex.TS's compact-and-refine
 * response synthesizer: the labelled contexts are packed into as few prompts as the context window
 * allows (normally one call, streamed), and refined over further calls only when they do not fit.
 * The rules go in a system message; sources and question are escaped data (see prompts.ts).
 */
export function createLLMGenerator(options: LLMGeneratorOptions): AnswerGenerator {
  return {
    name: "openai",
    model: options.model,

    async *generate(input: GenerateInput): AsyncGenerator<string, GenerateResult> {
      const llm = new OpenAICompatibleLLM({
        ...options,
        maxTokens: input.maxTokens,
        temperature: input.temperature,
        signal: input.signal,
        systemPrompt: ANSWER_SYSTEM_PROMPT,
      });
      const synthesizer = getResponseSynthesizer("compact", {
        llm,
        textQATemplate: citationQAPrompt,
        refineTemplate: citationRefinePrompt,
        promptHelper: new PromptHelper({ contextWindow: options.contextWindow, numOutput: input.maxTokens }),
      });
      const nodes = input.contexts.map((c, i) => ({ node: new TextNode({ id_: c.id, text: labelContext(i, c.text) }) }));
      // The question is data too: escaped like the sources, inside its own element.
      const stream = await synthesizer.synthesize({ query: escapeData(input.query), nodes }, true);
      for await (const part of stream) {
        if (part.delta) yield part.delta;
      }
      // The last call's reason is the answer's (a refine's last call writes the final answer).
      const finishReason = llm.finishReason === "length" ? "length" : llm.finishReason === undefined ? undefined : "stop";
      return { completionTokens: llm.completionTokens, finishReason };
    },

    check() {
      return probeUpstream("generation backend", joinUrl(options.url, "models"), Math.min(options.timeoutMs, 2000), options.apiKey);
    },
  };
}
