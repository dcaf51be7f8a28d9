import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../src/errors.ts";
import { createLLMCondenser } from "../src/generation/condenser.ts";
import { createExtractiveGenerator } from "../src/generation/extractive.ts";
import { createLLMGenerator } from "../src/generation/llm-generator.ts";
import { DEFAULT_TEMPERATURE } from "../src/generation/openai-llm.ts";
import type { AnswerGenerator, GenerateResult } from "../src/generation/port.ts";
import { parseCitations } from "../src/routes/generate.ts";
import { FAKE_ANSWER, FAKE_COMPLETION_TOKENS, type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.ts";

const contexts = [
  { id: "c1", text: "Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina Panthers 24–10." },
  { id: "c2", text: "The game was played on February 7, 2016, at Levi's Stadium in Santa Clara, California." },
  { id: "c3", text: "Cats are small domesticated carnivorous mammals." },
];

async function collect(gen: AsyncGenerator<string, GenerateResult>) {
  const deltas: string[] = [];
  let step = await gen.next();
  while (!step.done) {
    deltas.push(step.value);
    step = await gen.next();
  }
  return { deltas, answer: deltas.join(""), result: step.value };
}

/** The port's promises, checked against every adapter. */
function generatorConformance(name: string, create: () => AnswerGenerator) {
  describe(`AnswerGenerator conformance: ${name}`, () => {
    it("happy: streams several deltas that form an answer citing the contexts as [n]", async () => {
      const { deltas, answer } = await collect(
        create().generate({ query: "Which team defeated the Carolina Panthers?", contexts, maxTokens: 128 }),
      );
      expect(deltas.length).toBeGreaterThan(1);
      expect(answer).toMatch(/Denver/);
      const citations = parseCitations(answer, contexts.length);
      expect(citations.length).toBeGreaterThan(0);
      expect(citations.every((n) => n >= 1 && n <= contexts.length)).toBe(true);
    });

    it("happy: check() reports ready and the model is named", async () => {
      const generator = create();
      expect((await generator.check()).ok).toBe(true);
      expect(generator.model.length).toBeGreaterThan(0);
    });
  });
}

generatorConformance("extractive", createExtractiveGenerator);

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(() => fake?.close());

const llm = (timeoutMs = 400) =>
  createLLMGenerator({ url: fake.url, model: "qwen-test", apiKey: "gen-key", timeoutMs, contextWindow: 4096 });
generatorConformance("openai (OpenAI-compatible chat completions)", () => llm());

// Which sentences it quotes is the shared extractive answer's, tested in test/unit/extractive-answer.test.ts.
describe("extractive generator specifics", () => {
  it("happy: max_tokens bounds the answer", async () => {
    const { answer, result } = await collect(
      createExtractiveGenerator().generate({ query: "Who won Super Bowl 50?", contexts, maxTokens: 5 }),
    );
    expect(result.completionTokens).toBeLessThanOrEqual(5);
    expect(answer.split(/\s+/).length).toBeLessThanOrEqual(5);
    // It says that it cut the answer, and that an answer it did not cut ended by itself.
    expect(result.finishReason).toBe("length");
    const whole = await collect(createExtractiveGenerator().generate({ query: "Who won Super Bowl 50?", contexts, maxTokens: 4096 }));
    expect(whole.result.finishReason).toBe("stop");
  });

  it("happy: it does not sample, so a temperature changes nothing", async () => {
    const input = { query: "Who won Super Bowl 50?", contexts, maxTokens: 128 };
    const plain = await collect(createExtractiveGenerator().generate(input));
    const hot = await collect(createExtractiveGenerator().generate({ ...input, temperature: 2 }));
    expect(hot.answer).toBe(plain.answer);
  });
});

describe("openai generator: wire format and failures", () => {
  it("happy: streams with stream_options, max_tokens and labelled contexts, and counts the server's tokens", async () => {
    fake.setMode("ok");
    const { answer, result } = await collect(llm().generate({ query: "Who won?", contexts, maxTokens: 77 }));
    expect(answer).toBe(FAKE_ANSWER);
    expect(result.completionTokens).toBe(FAKE_COMPLETION_TOKENS);
    expect(result.finishReason).toBe("stop");
    const request = fake.requests.at(-1)!;
    expect(request).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
    expect(request.headers.authorization).toBe("Bearer gen-key");
    expect(request.body).toMatchObject({ model: "qwen-test", stream: true, max_tokens: 77, stream_options: { include_usage: true } });
    expect(request.body.temperature).toBe(DEFAULT_TEMPERATURE);
    const prompt = request.body.messages.map((m: { content: string }) => m.content).join("\n");
    expect(prompt).toContain(`<source id="1">\n${contexts[0]!.text}\n</source>`);
    expect(prompt).toContain(`<source id="3">\n${contexts[2]!.text}\n</source>`);
    expect(prompt).toContain("Who won?");
  });

  it("happy: reports the server's finish_reason: length when max_tokens cut the answer", async () => {
    fake.setMode("ok");
    const { result } = await collect(llm().generate({ query: "Who won?", contexts, maxTokens: FAKE_COMPLETION_TOKENS - 1 }));
    expect(result.finishReason).toBe("length");
  });

  it("happy: sends the request's temperature instead of the default", async () => {
    fake.setMode("ok");
    await collect(llm().generate({ query: "Who won?", contexts, maxTokens: 40, temperature: 1.3 }));
    expect(fake.requests.at(-1)!.body).toMatchObject({ max_tokens: 40, temperature: 1.3 });
    await collect(llm().generate({ query: "Who won?", contexts, maxTokens: 40, temperature: 0 }));
    expect(fake.requests.at(-1)!.body.temperature).toBe(0);
  });

  const before = [
    ["http-500", "UPSTREAM_ERROR"],
    ["http-429", "UPSTREAM_UNAVAILABLE"],
    ["hang", "UPSTREAM_TIMEOUT"],
  ] as const;
  for (const [mode, code] of before) {
    it(`error: ${mode} before the first token → ${code}`, async () => {
      fake.setMode(mode);
      const err = await collect(llm(300).generate({ query: "q", contexts, maxTokens: 16 })).catch((e: unknown) => e);
      fake.setMode("ok");
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code });
    });
  }

  const midStream = [
    ["stall-mid-stream", "UPSTREAM_TIMEOUT"],
    ["error-mid-stream", "UPSTREAM_ERROR"],
    ["cut-mid-stream", undefined],
  ] as const;
  for (const [mode, code] of midStream) {
    it(`error: ${mode} fails after the first deltas${code ? ` with ${code}` : ""}`, async () => {
      fake.setMode(mode);
      const deltas: string[] = [];
      const gen = llm(300).generate({ query: "q", contexts, maxTokens: 16 });
      const err = await (async () => {
        for await (const d of gen) deltas.push(d);
      })().catch((e: unknown) => e);
      fake.setMode("ok");
      expect(deltas.length).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).status).toBeGreaterThanOrEqual(502);
      if (code) expect(err).toMatchObject({ code });
    });
  }
});

describe("openai condenser: LlamaIndex's condense prompt", () => {
  const condenser = () => createLLMCondenser({ url: fake.url, model: "qwen-test", apiKey: "gen-key", timeoutMs: 400, contextWindow: 4096 });
  const history = [
    { role: "user" as const, content: "Who won Super Bowl 50?" },
    { role: "assistant" as const, content: "The Denver Broncos [1]." },
  ];

  it("happy: sends the history and the follow-up in the condense prompt, and returns the model's standalone question", async () => {
    fake.setMode("obedient");
    try {
      const result = await condenser().condense(history, "Where was it played? OBEY: Where was Super Bowl 50 played?");
      expect(result).toEqual({ question: "Where was Super Bowl 50 played?", method: "llm" });
      const prompt = fake.requests.at(-1)!.body.messages.at(-1).content as string;
      expect(prompt).toContain("rewrite the message to be a standalone question");
      expect(prompt).toContain("Human: Who won Super Bowl 50?\nAssistant: The Denver Broncos [1].");
      expect(prompt).toContain("Where was it played?");
    } finally {
      fake.setMode("ok");
    }
  });

  it("happy: with no earlier user turn nothing is sent to the LLM", async () => {
    const before = fake.requests.length;
    expect(await condenser().condense([], "Who won?")).toEqual({ question: "Who won?", method: "none" });
    expect(fake.requests.length).toBe(before);
  });

  it("error: a failing LLM is an UPSTREAM_* AppError", async () => {
    fake.setMode("http-500");
    try {
      const error = await condenser()
        .condense(history, "Where was it played?")
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toMatch(/^UPSTREAM_/);
    } finally {
      fake.setMode("ok");
    }
  });
});

describe("citations", () => {
  it("happy: parses [n] and [n, m], keeps order, drops out-of-range numbers", () => {
    expect(parseCitations("A [2]. B [1, 3] and [2] again [9] [0].", 3)).toEqual([2, 1, 3]);
  });
});
