import { beforeAll, describe, expect, it } from "vitest";
import type { ChatCompletion, ChatCompletionChunk, OpenAIError } from "../../src/chat/schemas";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, uniqueTenant } from "./helpers";
import { LOCATED_MARKDOWN_FACT, uploadLocatedFiles } from "./ingest-fixtures";
import { CORPUS, indexFixture, QUESTIONS, readEvents } from "./query-fixtures";
import { PDF_FACT } from "./test-files";

/**
 * POST /v1/chat/completions and GET /v1/models (OpenAI's wire format) over real D1, the real vector
 * index and the REAL origin, whose condense step has no LLM here (its offline rules). The OpenAI SDK
 * and LlamaIndex.TS as clients are tested end to end (test/e2e/first-query.e2e.test.ts).
 */

const tenant = uniqueTenant("chat");
let key = "";

beforeAll(async () => {
  ({ key } = await createKey(tenant, ["reader"]));
  await indexFixture(tenant, CORPUS);
}, 120_000);

const FIRST = { role: "user", content: QUESTIONS.penicillin.query };
const FOLLOW_UP = [
  FIRST,
  { role: "assistant", content: "Alexander Fleming noticed it in September 1928 [1]." },
  { role: "user", content: "Who purified it later?" },
];

async function complete(body: Record<string, unknown>, auth = key): Promise<ChatCompletion> {
  const response = await call("/v1/chat/completions", { auth, body: { model: "edge-rag", ...body } });
  expect(response.status, await response.clone().text()).toBe(200);
  return json(response);
}

async function expectOpenAIError(response: Response, status: number, type: string, code: string): Promise<OpenAIError["error"]> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const { error } = await json<OpenAIError>(response);
  expect(error).toMatchObject({ type, code, request_id: response.headers.get("x-request-id") });
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

describe("chat completions (happy)", () => {
  it("answers in OpenAI's shape, with [n] citations into `citations` and `search_results`, usage and the rewrite", async () => {
    const response = await call("/v1/chat/completions", {
      auth: key,
      body: { model: "edge-rag", messages: [{ role: "system", content: "Be brief." }, FIRST], temperature: 0.2, user: "u-1" },
    });
    expect(response.headers.get("ratelimit-limit")).not.toBeNull();
    const completion = await json<ChatCompletion>(response);
    expect(completion).toMatchObject({ object: "chat.completion", model: "edge-rag", id: expect.stringMatching(/^chatcmpl-/) });
    const [choice] = completion.choices;
    expect(choice).toMatchObject({ index: 0, finish_reason: "stop", message: { role: "assistant" } });
    expect(choice!.message.content).toContain("Fleming");
    const cited = [...choice!.message.content.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
    expect(cited.length).toBeGreaterThan(0);
    expect(completion.search_results[cited[0]! - 1]!.document_id).toBe("penicillin");
    expect(completion.citations[cited[0]! - 1]).toBe("http://edge-rag.test/v1/documents/penicillin");
    expect(completion.search_results[0]).toMatchObject({ title: expect.any(String), snippet: completion.search_results[0]!.text });
    const { prompt_tokens, completion_tokens, total_tokens } = completion.usage;
    expect(prompt_tokens).toBeGreaterThan(0);
    expect(completion_tokens).toBeGreaterThan(0);
    expect(total_tokens).toBe(prompt_tokens + completion_tokens);
    expect(completion.edge_rag.rewrite).toEqual({ standalone_question: QUESTIONS.penicillin.query, method: "none" });
    expect(completion.edge_rag.metadata).toMatchObject({ degraded: false, cache: "miss" });
  });

  it("condenses a follow-up from the history, and caches under the standalone question", async () => {
    const followUp = await complete({ messages: FOLLOW_UP });
    const { standalone_question, method } = followUp.edge_rag.rewrite;
    expect(method).toBe("rules");
    expect(standalone_question).toMatch(/^Who purified it later\? \(.*penicillin.*\)$/);
    expect(followUp.search_results[0]!.document_id).toBe("penicillin");

    // The standalone question asked on its own is the same cache entry.
    const standalone = await complete({ messages: [{ role: "user", content: standalone_question }] });
    expect(standalone.edge_rag.metadata.cache).toBe("hit");
    expect(standalone.choices[0]!.message.content).toBe(followUp.choices[0]!.message.content);
  });

  it("streams chat.completion.chunk events: sources first, the answer, finish_reason with the rewrite, usage, [DONE]", async () => {
    const messages = [{ role: "user", content: QUESTIONS.panama.query }];
    const plain = await complete({ messages, cache: false });
    const response = await call("/v1/chat/completions", {
      auth: key,
      body: { model: "edge-rag", messages, stream: true, stream_options: { include_usage: true }, cache: false },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = await readEvents(response);
    expect(events.every((event) => event.event === "message")).toBe(true);
    expect(events.at(-1)!.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data) as ChatCompletionChunk);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks[0]!.search_results!.map((source) => source.document_id)).toEqual(plain.search_results.map((s) => s.document_id));
    const content = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(content).toBe(plain.choices[0]!.message.content);
    const final = chunks.at(-2)!;
    expect(final.choices[0]!.finish_reason).toBe("stop");
    expect(final.edge_rag!.rewrite.method).toBe("none");
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual(plain.usage);
  });

  it("lists edge-rag and one model per collection; a collection's model retrieves from it only", async () => {
    const response = await call("/v1/models", { auth: key });
    expect(response.status).toBe(200);
    const list = await json(response);
    expect(list.object).toBe("list");
    const collections = [...new Set(CORPUS.map((document) => document.collection))].sort();
    expect(list.data.map((model: { id: string }) => model.id)).toEqual(["edge-rag", ...collections.map((name) => `edge-rag/${name}`)]);
    expect(list.data[0]).toMatchObject({ object: "model", owned_by: "edge-rag", created: expect.any(Number) });

    const restricted = await complete({ model: "edge-rag/geography", messages: [FIRST] });
    expect(restricted.search_results.length).toBeGreaterThan(0);
    expect(restricted.search_results.every((source) => source.metadata.collection === "geography")).toBe(true);
  });

  it("with no origin, the edge condenses with the same rules and answers degraded", async () => {
    const response = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/chat/completions", {
      auth: key,
      body: { model: "edge-rag", messages: FOLLOW_UP, cache: false },
    });
    expect(response.status).toBe(200);
    const completion = await json<ChatCompletion>(response);
    expect(completion.edge_rag.rewrite.method).toBe("rules");
    expect(completion.edge_rag.rewrite.standalone_question).toMatch(/penicillin/);
    expect(completion.edge_rag.metadata.degraded).toBe(true);
    expect(completion.search_results[0]!.document_id).toBe("penicillin");
  });
});

describe("chat completions: where each source came from (happy)", () => {
  // A tenant of its own: the model list above is exactly the corpus' collections.
  const located = uniqueTenant("chat-files");
  let writer = "";

  beforeAll(async () => {
    ({ key: writer } = await createKey(located, ["writer"]));
    await uploadLocatedFiles(writer, "manuals");
  }, 120_000);

  const ask = (content: string) => ({ model: "edge-rag/manuals", messages: [{ role: "user", content }], cache: false });

  it("search_results carry a PDF source's page and a Markdown source's section path, as /v1/query's sources do", async () => {
    const fromPdf = await complete(ask("What is the heron index of the Lisbon plant?"), writer);
    const page = fromPdf.search_results.find((source) => source.text.includes(PDF_FACT));
    expect(page).toMatchObject({ document_id: "plant-report.pdf", title: "Plant Report", page: 3 });
    expect(page).not.toHaveProperty("section");
    expect(fromPdf.citations[fromPdf.search_results.indexOf(page!)]).toBe("http://edge-rag.test/v1/documents/plant-report.pdf");

    const fromMarkdown = await complete(ask("When does the pelican agent upgrade itself?"), writer);
    const section = fromMarkdown.search_results.find((source) => source.text.includes(LOCATED_MARKDOWN_FACT));
    expect(section).toMatchObject({ document_id: "install.md", title: "Installation", section: "Installation › Upgrades" });
    expect(section).not.toHaveProperty("page");
  });

  it("a streamed answer's first chunk carries them too", async () => {
    const response = await call("/v1/chat/completions", {
      auth: writer,
      body: { ...ask("What is the heron index of the Lisbon plant?"), stream: true },
    });
    expect(response.status).toBe(200);
    const [first] = (await readEvents(response)).map((event) =>
      event.data === "[DONE]" ? null : (JSON.parse(event.data) as ChatCompletionChunk),
    );
    const page = first!.search_results!.find((source) => source.text.includes(PDF_FACT));
    expect(page).toMatchObject({ document_id: "plant-report.pdf", page: 3 });
    expect(page).not.toHaveProperty("section");
  });
});

describe("chat completions: max_tokens and temperature", () => {
  // The origin's extractive generator is deterministic: it cuts at a word boundary and ignores the temperature.
  const messages = [{ role: "user", content: QUESTIONS.fire.query }];

  it("max_tokens (or max_completion_tokens) cuts the answer and has its own cache entry", async () => {
    const full = await complete({ messages });
    const cut = await complete({ messages, max_tokens: 6 });
    expect(cut.edge_rag.metadata.cache).toBe("miss");
    const [fullText, cutText] = [full.choices[0]!.message.content, cut.choices[0]!.message.content];
    expect(cutText.length).toBeGreaterThan(0);
    expect(cutText.length).toBeLessThan(fullText.length);
    expect(fullText.startsWith(cutText)).toBe(true);
    expect(cut.usage.completion_tokens).toBeLessThan(full.usage.completion_tokens);
    // The origin said it cut the answer at max_tokens: OpenAI's "length"; the whole answer "stop".
    expect([cut.choices[0]!.finish_reason, full.choices[0]!.finish_reason]).toEqual(["length", "stop"]);
    expect(cut.edge_rag.metadata.finish_reason).toBe("length");

    // The same limit under its newer name is the same entry; a longer one is not served the short answer.
    const alias = await complete({ messages, max_completion_tokens: 6 });
    expect(alias.edge_rag.metadata.cache).toBe("hit");
    expect(alias.choices[0]!.message.content).toBe(cutText);
    const longer = await complete({ messages, max_tokens: 500 });
    expect(longer.edge_rag.metadata.cache).toBe("miss");
    expect(longer.choices[0]!.message.content).toBe(fullText);
    // 512 is the origin's default: the default's entry.
    expect((await complete({ messages, max_tokens: 512 })).edge_rag.metadata.cache).toBe("hit");
  });

  it("a streamed answer is cut the same way", async () => {
    const cut = await complete({ messages, max_tokens: 6, cache: false });
    const response = await call("/v1/chat/completions", {
      auth: key,
      body: { model: "edge-rag", messages, stream: true, max_tokens: 6, cache: false },
    });
    const chunks = (await readEvents(response)).slice(0, -1).map((event) => JSON.parse(event.data) as ChatCompletionChunk);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe(cut.choices[0]!.message.content);
    expect(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason)).filter(Boolean)).toEqual(["length"]);
  });

  it("a temperature has its own cache entry (the extractive generator answers the same)", async () => {
    const plain = await complete({ messages: [{ role: "user", content: QUESTIONS.rosetta.query }] });
    const warm = await complete({ messages: [{ role: "user", content: QUESTIONS.rosetta.query }], temperature: 1.4 });
    expect(warm.edge_rag.metadata.cache).toBe("miss");
    expect(warm.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
    const again = await complete({ messages: [{ role: "user", content: QUESTIONS.rosetta.query }], temperature: 1.4 });
    expect(again.edge_rag.metadata.cache).toBe("hit");
  });

  it("with no origin, the edge's answer is held to max_tokens too (about four characters a token)", async () => {
    const response = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/v1/chat/completions", {
      auth: key,
      body: { model: "edge-rag", messages, max_tokens: 5, cache: false },
    });
    const completion = await json<ChatCompletion>(response);
    expect(completion.edge_rag.metadata.degraded).toBe(true);
    const content = completion.choices[0]!.message.content;
    expect(content.length).toBeGreaterThan(0);
    expect(content.length).toBeLessThanOrEqual(5 * 4);
    expect(completion.choices[0]!.finish_reason).toBe("length");
  });
});

describe("chat completions (error): OpenAI's error shape on these routes only", () => {
  it("401 without credentials or with an unknown key (invalid_api_key); /v1/query keeps problem+json", async () => {
    const body = { model: "edge-rag", messages: [FIRST] };
    const missing = await call("/v1/chat/completions", { body });
    await expectOpenAIError(missing, 401, "authentication_error", "credentials_missing");
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectOpenAIError(
      await call("/v1/chat/completions", { body, auth: "erk_nope_nope" }),
      401,
      "authentication_error",
      "invalid_api_key",
    );
    await expectOpenAIError(await call("/v1/models", { auth: "erk_nope_nope" }), 401, "authentication_error", "invalid_api_key");
    const query = await call("/v1/query", { body: { query: "x" } });
    expect(query.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });

  it.each([
    ["the last message is not the user's", { messages: [FIRST, { role: "assistant", content: "…" }] }, "messages"],
    ["an empty question", { messages: [{ role: "user", content: "  " }] }, "messages.0.content"],
    ["a tool message", { messages: [{ role: "tool", content: "x", tool_call_id: "1" }] }, "messages.0.role"],
    ["n = 2", { messages: [FIRST], n: 2 }, "n"],
    ["an unknown field", { messages: [FIRST], tools: [] }, ""],
    ["no messages", { messages: [] }, "messages"],
    ["a temperature above 2", { messages: [FIRST], temperature: 2.5 }, "temperature"],
    ["a negative temperature", { messages: [FIRST], temperature: -0.5 }, "temperature"],
    ["max_tokens 0", { messages: [FIRST], max_tokens: 0 }, "max_tokens"],
    ["max_tokens above 8192", { messages: [FIRST], max_tokens: 8193 }, "max_tokens"],
    ["a fractional max_completion_tokens", { messages: [FIRST], max_completion_tokens: 10.5 }, "max_completion_tokens"],
    [
      "max_tokens and max_completion_tokens that differ",
      { messages: [FIRST], max_tokens: 10, max_completion_tokens: 20 },
      "max_completion_tokens",
    ],
  ])("400 invalid_request_error for %s, naming the field", async (_name, body, param) => {
    const error = await expectOpenAIError(
      await call("/v1/chat/completions", { auth: key, body: { model: "edge-rag", ...body } }),
      400,
      "invalid_request_error",
      "validation_failed",
    );
    expect(error.param ?? "").toBe(param);
  });

  it("404 model_not_found for a model that is not ours or a collection the tenant does not have", async () => {
    for (const model of ["gpt-4o", "edge-rag/", "edge-rag/no-such-collection"]) {
      for (const stream of [false, true]) {
        const response = await call("/v1/chat/completions", { auth: key, body: { model, messages: [FIRST], stream } });
        await expectOpenAIError(response, 404, "invalid_request_error", "model_not_found");
      }
    }
  });
});
