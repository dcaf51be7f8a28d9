import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A local OpenAI-compatible server speaking the real wire format (what TEI and vLLM speak):
 * GET /v1/models, POST /v1/embeddings, POST /v1/chat/completions with and without `stream`
 * (SSE `data: {...}` chunks, a usage chunk, then `data: [DONE]`). Its `mode` makes it fail the ways
 * real servers fail: HTTP errors, no answer at all, a malformed body, or a stream that stalls, reports
 * an error or is cut off half-way.
 */
export type FakeMode =
  | "ok"
  | "http-500"
  | "http-429"
  | "http-503"
  | "hang"
  | "malformed"
  | "stall-mid-stream"
  | "error-mid-stream"
  | "cut-mid-stream"
  /** Streams the answer one piece every 100 ms (time for a client to go away mid-answer). */
  | "slow-stream"
  /** Plays an obedient model: answers with the text after `OBEY:` in any message (to its line's end). */
  | "obedient";

export type RecordedRequest = { method: string; path: string; headers: IncomingMessage["headers"]; body: any };

export const FAKE_DIMENSIONS = 8;
/** The streamed answer, in the pieces the fake sends (concatenated: FAKE_ANSWER). */
export const FAKE_ANSWER_PIECES = ["Denver ", "won ", "the ", "game [1]", ", as ", "reported [2]."];
export const FAKE_ANSWER = FAKE_ANSWER_PIECES.join("");
export const FAKE_COMPLETION_TOKENS = 11;

/** A deterministic, deliberately unnormalised vector for a text. */
export function fakeVector(text: string): number[] {
  const digest = createHash("sha256").update(text).digest();
  return Array.from({ length: FAKE_DIMENSIONS }, (_, i) => (digest[i]! - 128) / 8);
}

/** What an obedient model says: the planted `OBEY:` directive wins over every instruction it was given. */
function obey(body: { messages?: Array<{ content?: string }> }): string {
  for (const message of body.messages ?? []) {
    const match = /OBEY:\s*(.+)/.exec(message.content ?? "");
    if (match) return match[1]!.trim();
  }
  return FAKE_ANSWER;
}

export async function startFakeOpenAI() {
  let mode: FakeMode = "ok";
  // TEI's limits: it answers 413 when an input is over its token limit (without --auto-truncate).
  let maxInputChars = Number.POSITIVE_INFINITY;
  let embedDelayMs = 0;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    const body = text ? JSON.parse(text) : undefined;
    requests.push({ method: req.method!, path: req.url!, headers: req.headers, body });
    handle(req, res, body);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: any) {
    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    if (mode === "hang") return; // accept, never answer
    if (mode === "http-500") return json(500, { error: { message: "internal error: secret-upstream-detail" } });
    if (mode === "http-429") return json(429, { error: { message: "rate limited" } });
    if (mode === "http-503") return json(503, { error: { message: "loading model" } });
    if (mode === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end("{not json");
    }

    if (req.method === "GET" && req.url === "/v1/models") {
      return json(200, { object: "list", data: [{ id: "fake-model", object: "model" }] });
    }
    if (req.method === "POST" && req.url === "/v1/embeddings") {
      const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
      if (inputs.some((t) => t.length > maxInputChars)) {
        return json(413, { error: "Input validation error: `inputs` must have less than 512 tokens", error_type: "Validation" });
      }
      if (embedDelayMs > 0) return void setTimeout(() => answerEmbeddings(res, body, inputs), embedDelayMs);
      return answerEmbeddings(res, body, inputs);
    }
    if (req.method === "POST" && req.url === "/v1/chat/completions") {
      const answer = mode === "obedient" ? obey(body) : FAKE_ANSWER;
      // As a server does when max_tokens stops the answer before it ends (the fake still sends all of it).
      const finishReason = typeof body.max_tokens === "number" && body.max_tokens < FAKE_COMPLETION_TOKENS ? "length" : "stop";
      if (!body.stream) {
        return json(200, {
          id: "chatcmpl-1",
          object: "chat.completion",
          model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: finishReason }],
          usage: { prompt_tokens: 50, completion_tokens: FAKE_COMPLETION_TOKENS, total_tokens: 61 },
        });
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
      const chunk = (delta: object, finish: string | null = null) =>
        send({
          id: "chatcmpl-1",
          object: "chat.completion.chunk",
          model: body.model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
      chunk({ role: "assistant", content: "" });
      if (mode === "slow-stream") {
        for (const [i, piece] of FAKE_ANSWER_PIECES.entries()) {
          setTimeout(() => !res.destroyed && chunk({ content: piece }), 100 * i);
        }
        return void setTimeout(() => res.end("data: [DONE]\n\n"), 100 * FAKE_ANSWER_PIECES.length);
      }
      const pieces = mode === "obedient" ? answer.split(/(?<= )/) : mode === "ok" ? FAKE_ANSWER_PIECES : FAKE_ANSWER_PIECES.slice(0, 2);
      for (const piece of pieces) chunk({ content: piece });
      if (mode === "stall-mid-stream") return; // headers and two pieces, then silence
      if (mode === "error-mid-stream") {
        send({ error: { message: "CUDA out of memory", type: "internal_error" } });
        return res.end();
      }
      if (mode === "cut-mid-stream") return void setTimeout(() => res.socket?.destroy(), 50); // after the pieces flush
      chunk({}, finishReason);
      send({
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        choices: [],
        usage: { prompt_tokens: 50, completion_tokens: FAKE_COMPLETION_TOKENS, total_tokens: 61 },
      });
      res.write("data: [DONE]\n\n");
      return res.end();
    }
    json(404, { error: { message: "not found" } });
  }

  function answerEmbeddings(res: ServerResponse, body: any, inputs: string[]) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        object: "list",
        model: body.model,
        // Out of order on purpose: clients must sort by index.
        data: inputs.map((t, index) => ({ object: "embedding", index, embedding: fakeVector(t) })).reverse(),
        usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
      }),
    );
  }

  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setMode: (m: FakeMode) => {
      mode = m;
    },
    /** Embeddings: 413 for a call with any input longer than this (TEI over 512 tokens); Infinity: none. */
    setMaxInputChars: (n: number) => {
      maxInputChars = n;
    },
    /** Embeddings: answer after this long (a busy GPU). */
    setEmbedDelay: (ms: number) => {
      embedDelayMs = ms;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

export type FakeOpenAI = Awaited<ReturnType<typeof startFakeOpenAI>>;
