import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listenOnLoopback, readBody, sendJson } from "./loopback-http";

/**
 * A slow OpenAI-compatible chat server (`GET /v1/models`, `POST /v1/chat/completions`, streamed or
 * not) for the origin's `openai` generation backend, so that a test has time to kill the origin
 * while it is answering. How slowly it answers is set over HTTP by the tests (through the origin
 * control server); `stats()` says how many completions it has received and how many are still
 * waiting for their first token, so a test can tell that the origin is in the middle of one.
 */
export interface SlowLlmBehaviour {
  /** Delay before the first token (the origin's headers wait for it). */
  firstTokenDelayMs: number;
  /** Delay between two tokens. */
  tokenIntervalMs: number;
  /** Tokens per answer. */
  tokens: number;
}

export interface SlowLlm {
  url: string;
  model: string;
  configure(behaviour: Partial<SlowLlmBehaviour>): SlowLlmBehaviour;
  stats(): { completions: number; waiting: number; streaming: number };
  close(): Promise<void>;
}

const DEFAULT_BEHAVIOUR: SlowLlmBehaviour = { firstTokenDelayMs: 0, tokenIntervalMs: 100, tokens: 40 };
const WORDS = "The sources answer this question directly [1] and the answer is grounded in them".split(" ");

export async function startSlowLlm(): Promise<SlowLlm> {
  const model = "slow-test-llm";
  let behaviour = { ...DEFAULT_BEHAVIOUR };
  let completions = 0;
  let waiting = 0;
  let streaming = 0;

  const server = createServer((request, response) => {
    if (request.method === "GET" && request.url === "/v1/models") {
      sendJson(response, 200, { object: "list", data: [{ id: model, object: "model", owned_by: "test" }] });
    } else if (request.method === "POST" && request.url === "/v1/chat/completions") {
      void complete(request, response);
    } else {
      sendJson(response, 404, { error: { message: "not found" } });
    }
  });

  async function complete(request: IncomingMessage, response: ServerResponse) {
    const body = JSON.parse((await readBody(request)) || "{}") as { stream?: boolean };
    const current = behaviour;
    completions += 1;
    // The client (the origin) going away, e.g. killed, ends the answer.
    let gone = false;
    response.on("close", () => (gone = true));
    const words = Array.from({ length: current.tokens }, (_, index) => `${WORDS[index % WORDS.length]} `);

    if (!body.stream) {
      await sleepUnless(current.firstTokenDelayMs, () => gone);
      if (!gone) {
        sendJson(response, 200, {
          choices: [{ index: 0, message: { role: "assistant", content: words.join("") } }],
          usage: { completion_tokens: words.length },
        });
      }
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.flushHeaders();
    let started = false;
    waiting += 1;
    streaming += 1;
    try {
      await sleepUnless(current.firstTokenDelayMs, () => gone);
      for (const [index, word] of words.entries()) {
        if (index > 0) await sleepUnless(current.tokenIntervalMs, () => gone);
        if (gone) return;
        response.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: word } }] })}\n\n`);
        if (!started) {
          started = true;
          waiting -= 1;
        }
      }
      response.write(`data: ${JSON.stringify({ choices: [], usage: { completion_tokens: words.length } })}\n\n`);
      response.end("data: [DONE]\n\n");
    } finally {
      if (!started) waiting -= 1;
      streaming -= 1;
    }
  }

  const { url, close } = await listenOnLoopback(server);
  return {
    url,
    model,
    configure(changes) {
      behaviour = { ...DEFAULT_BEHAVIOUR, ...changes };
      return behaviour;
    },
    stats: () => ({ completions, waiting, streaming }),
    close,
  };
}

/** Sleeps `ms`, waking early (every 25 ms it looks) once `stop()` is true. */
async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!stop() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, Math.min(25, deadline - Date.now())));
}
