import { tokenizers } from "@llamaindex/env/tokenizers";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { GenerateRequestSchema } from "../../../src/shared/origin-contract.ts";
import type { AppEnv } from "../app-env.ts";
import { toAppError } from "../errors.ts";
import type { GenerateResult } from "../generation/port.ts";
import { NO_CONTEXT_ANSWER } from "../generation/prompts.ts";
import { readJson } from "../middleware/json-body.ts";

/** The 1-based context numbers an answer cites ("[2]", "[1, 3]"), unique, in order of first mention. */
export function parseCitations(answer: string, contextCount: number): number[] {
  const seen = new Set<number>();
  for (const match of answer.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const n of match[1]!.split(",").map((s) => Number(s.trim()))) {
      if (n >= 1 && n <= contextCount) seen.add(n);
    }
  }
  return [...seen];
}

async function* noContextAnswer(): AsyncGenerator<string, GenerateResult> {
  yield NO_CONTEXT_ANSWER;
  return {};
}

/**
 * POST /v1/generate: an answer citing the contexts as [n], of at most `max_tokens` tokens, sampled at
 * `temperature` by an LLM (the extractive generator ignores it); with `stream: true`, server-sent events
 * (`token` deltas, then `done`, or `error` with a problem if the backend fails mid-stream). The first
 * delta is awaited before anything is sent, so a backend that fails at once gets a proper 5xx problem.
 */
export const generateRoutes = new Hono<AppEnv>().post("/v1/generate", async (c) => {
  const { generator, metrics, logger } = c.get("services");
  const body = await readJson(c, GenerateRequestSchema);
  const started = performance.now();

  const deltas =
    body.contexts.length === 0
      ? noContextAnswer()
      : generator.generate({
          query: body.query,
          contexts: body.contexts,
          maxTokens: body.max_tokens,
          temperature: body.temperature,
          signal: c.req.raw.signal,
        });
  const first = await deltas.next();
  metrics.generationTimeToFirstToken.observe({ backend: generator.name }, (performance.now() - started) / 1000);

  let answer = "";
  const finish = (result: GenerateResult) => {
    const completionTokens = result.completionTokens ?? tokenizers.tokenizer().encode(answer).length;
    metrics.generationTokens.inc({ backend: generator.name }, completionTokens);
    return {
      model: generator.model,
      citations: parseCitations(answer, body.contexts.length),
      usage: { completion_tokens: completionTokens },
      ...(result.finishReason ? { finish_reason: result.finishReason } : {}),
    };
  };

  if (!body.stream) {
    let step = first;
    while (!step.done) {
      answer += step.value;
      step = await deltas.next();
    }
    return c.json({ answer, ...finish(step.value) });
  }

  return streamSSE(c, async (stream) => {
    stream.onAbort(() => void deltas.return({}).catch(() => {}));
    // A reader that went away is no backend failure: counted apart, logged at debug, nothing written.
    const clientGone = () => {
      if (!stream.aborted && !c.req.raw.signal.aborted) return false;
      metrics.clientClosed.inc({ route: "/v1/generate" });
      logger.debug("client closed the stream", { request_id: c.get("requestId") });
      return true;
    };
    try {
      let step = first;
      while (!step.done) {
        answer += step.value;
        await stream.writeSSE({ event: "token", data: JSON.stringify({ text: step.value }) });
        if (clientGone()) return;
        step = await deltas.next();
      }
      await stream.writeSSE({ event: "done", data: JSON.stringify(finish(step.value)) });
    } catch (err) {
      if (clientGone()) return;
      const error = toAppError(err);
      metrics.backendErrors.inc({ backend: "generation", code: error.code });
      logger.warn("generation failed mid-stream", { request_id: c.get("requestId"), code: error.code });
      await stream.writeSSE({ event: "error", data: JSON.stringify(error.toProblem(c.get("requestId"))) });
    }
  });
});
