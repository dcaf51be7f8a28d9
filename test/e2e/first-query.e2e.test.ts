import { execFile } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { OpenAI as LlamaIndexOpenAI } from "@llamaindex/openai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatCompletion, ChatCompletionChunk } from "../../src/chat/schemas";
import type { QueryResponse } from "../../src/query/schemas";
import { freePort } from "../../tools/lib/ports";
import { ROOT } from "../../tools/stack/paths";
import { type Stack, startStack } from "../../tools/stack/stack";

/**
 * The README's first ten minutes, as written there: its `keys create`, `ingest` and query commands
 * are read from README.md (so the README cannot drift from what is tested) and run against the
 * real local stack on a free port with its own state directory. The sample corpus is the user
 * guide in docs/guide; the answer must be prose that says how to rotate a key, citing the page.
 * Then the same stack through OpenAI clients (POST /v1/chat/completions): the README's "Use it from
 * an OpenAI client" block as written, the official `openai` package and LlamaIndex.TS's OpenAI LLM.
 */
const run = promisify(execFile);
let stack: Stack;
let stateDir: string;
let workDir: string;
/** The README walkthrough's key (reader and more), for the OpenAI clients below. */
let key = "";

/** The README's shell block that follows "First admin credential". */
function readmeWalkthrough(): { keysCreate: string[]; ingestFolder: string; queryBody: Record<string, unknown>; firstSentence: string } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /First admin credential[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no shell block after 'First admin credential'");
  const keysCreate = /^npx edge-rag (keys create [^#\n]*?)\s*(#.*)?$/m.exec(block)?.[1]?.split(/\s+/);
  const ingestFolder = /^npx edge-rag ingest (\S+)/m.exec(block)?.[1];
  const body = /-d '(\{[^']*\})'/.exec(block)?.[1];
  // The answer the README shows, up to its first citation.
  const firstSentence = /```json\n\{"answer": "([^"]*?\[1\])/.exec(readme.slice(readme.indexOf(block)))?.[1];
  if (!keysCreate || !ingestFolder || !body || !firstSentence) throw new Error(`README's walkthrough changed shape:\n${block}`);
  return { keysCreate, ingestFolder, queryBody: JSON.parse(body), firstSentence };
}

const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), ...args], {
    cwd: workDir,
    env: { ...process.env, EDGE_RAG_URL: stack.url, ...env },
  });

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "edge-rag-first-query-"));
  workDir = join(stateDir, "work");
  mkdirSync(workDir);
  stack = await startStack({
    port: await freePort(),
    stateDir,
    log: (component, line) => appendFileSync(join(stateDir, "stack.log"), `[${component}] ${line}\n`),
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe("README: first admin credential, then a first question", () => {
  it("ingests the sample corpus and answers the README's question in prose, citing the API keys page", async () => {
    const { keysCreate, ingestFolder, queryBody, firstSentence } = readmeWalkthrough();
    expect(ingestFolder).toBe("docs/guide/");
    // As written, except that the stack under test keeps its state in its own directory.
    const created = await cli([...keysCreate, "--persist-to", stateDir]);
    key = created.stdout.trim().split("\n").at(-1)!;
    expect(key).toMatch(/^erk_/);

    const ingested = await cli(["ingest", join(ROOT, ingestFolder), "--url", stack.url], { EDGE_RAG_KEY: key });
    const summary = JSON.parse(ingested.stdout);
    expect(summary.failed).toEqual([]);
    expect(summary.documents).toBeGreaterThanOrEqual(6);

    const response = await fetch(`${stack.url}/v1/query`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(queryBody),
    });
    expect(response.status).toBe(200);
    const { answer, sources, metadata } = (await response.json()) as QueryResponse;
    expect(metadata.degraded).toBe(false);
    // The instruction itself, as a sentence, and as the README shows it.
    expect(answer).toMatch(/To rotate an API key, create a new key[^.]*then revoke the old key/);
    expect(answer.startsWith(firstSentence), `README shows: ${firstSentence}\nanswer: ${answer}`).toBe(true);
    // Prose: no table cells, code spans or fences, headings, list markers or link syntax.
    expect(answer).not.toMatch(/\||`|^#|\n#|(^|\n)\s*[-*] |\]\(/);
    // Cited, and the citation is the API keys page.
    const cited = [...answer.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.map((n) => sources[n - 1]?.document_id)).toContain("api-keys.md");
    expect(sources[cited[0]! - 1]!.document_id).toBe("api-keys.md");
  });
});

/** The README's JavaScript block after "Use it from an OpenAI client". */
function readmeOpenAIClient(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /## Use it from an OpenAI client[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no js block after 'Use it from an OpenAI client'");
  return block;
}

const ROTATE = "How do I rotate an API key?";
/** Needs its history: asked alone, it finds nothing about API keys (checked below). */
const FOLLOW_UP = "How often should I do it?";
const ROTATE_HOW_OFTEN = /Rotate a key at once if it may have leaked, and regularly otherwise/;

describe("OpenAI clients against POST /v1/chat/completions", () => {
  const client = () => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
  const cited = (content: string) => [...content.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));

  it("README: the block runs as written, answering with a citation and then a follow-up that needs the history", async () => {
    // As a user runs it: node, from the project (so `openai` resolves), with the two variables set.
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", readmeOpenAIClient()], {
      cwd: ROOT,
      env: { ...process.env, EDGE_RAG_URL: stack.url, EDGE_RAG_KEY: key },
    });
    const [answer, citation, ...rest] = stdout.split("\n");
    expect(answer).toMatch(/^To rotate an API key, create a new key.*\[1\]/);
    expect(citation).toBe(`${stack.url}/v1/documents/api-keys.md`);
    expect(rest.join("\n")).toMatch(ROTATE_HOW_OFTEN);
  });

  it("openai SDK: an answer with [n] citations, the citations and search_results fields, usage and the rewrite", async () => {
    const completion = (await client().chat.completions.create({
      model: "edge-rag",
      messages: [{ role: "user", content: ROTATE }],
    })) as OpenAI.ChatCompletion & ChatCompletion;
    const content = completion.choices[0]!.message.content!;
    expect(content).toMatch(/To rotate an API key, create a new key[^.]*then revoke the old key/);
    const [n] = cited(content);
    expect(completion.search_results[n! - 1]!.document_id).toBe("api-keys.md");
    expect(completion.citations[n! - 1]).toBe(`${stack.url}/v1/documents/api-keys.md`);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    expect(completion.edge_rag.rewrite).toEqual({ standalone_question: ROTATE, method: "none" });
    // max_tokens bounds the answer (the extractive generator cuts it at a word boundary).
    const short = await client().chat.completions.create({
      model: "edge-rag",
      messages: [{ role: "user", content: ROTATE }],
      max_tokens: 6,
    });
    expect(short.choices[0]!.message.content!.length).toBeLessThan(content.length);
    expect(content.startsWith(short.choices[0]!.message.content!)).toBe(true);
    const models = await client().models.list();
    expect(models.data.map((model) => model.id)).toContain("edge-rag");
  });

  it("openai SDK: streamed, the chunks carry the sources first, the same answer, then usage", async () => {
    const plain = await client().chat.completions.create({ model: "edge-rag", messages: [{ role: "user", content: ROTATE }] });
    const stream = await client().chat.completions.create({
      model: "edge-rag",
      messages: [{ role: "user", content: ROTATE }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: Array<OpenAI.ChatCompletionChunk & Pick<ChatCompletionChunk, "citations">> = [];
    for await (const chunk of stream) chunks.push(chunk as OpenAI.ChatCompletionChunk & Pick<ChatCompletionChunk, "citations">);
    expect(chunks[0]!.citations![0]).toBe(`${stack.url}/v1/documents/api-keys.md`);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("")).toBe(plain.choices[0]!.message.content);
    expect(chunks.at(-1)!.usage).toEqual(plain.usage);
  });

  it("openai SDK: a follow-up is answered from its history; asked alone, it is not about API keys", async () => {
    const first = await client().chat.completions.create({ model: "edge-rag", messages: [{ role: "user", content: ROTATE }] });
    const followUp = (await client().chat.completions.create({
      model: "edge-rag",
      messages: [{ role: "user", content: ROTATE }, first.choices[0]!.message, { role: "user", content: FOLLOW_UP }],
    })) as OpenAI.ChatCompletion & ChatCompletion;
    expect(followUp.edge_rag.rewrite.method).toBe("rules");
    expect(followUp.edge_rag.rewrite.standalone_question).toMatch(/^How often should I do it\? \(.*API key.*\)$/);
    expect(followUp.choices[0]!.message.content).toMatch(ROTATE_HOW_OFTEN);
    expect(followUp.search_results[0]!.document_id).toBe("api-keys.md");

    const alone = (await client().chat.completions.create({
      model: "edge-rag",
      messages: [{ role: "user", content: FOLLOW_UP }],
    })) as OpenAI.ChatCompletion & ChatCompletion;
    expect(alone.edge_rag.rewrite.method).toBe("none");
    expect(alone.search_results[0]!.document_id).not.toBe("api-keys.md");
    expect(alone.choices[0]!.message.content).not.toMatch(ROTATE_HOW_OFTEN);
  });

  it("openai SDK: a bad key raises AuthenticationError, an unknown model NotFoundError, a bad request BadRequestError", async () => {
    const bad = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: "erk_nope_nope", maxRetries: 0 });
    const refused = await bad.chat.completions.create({ model: "edge-rag", messages: [{ role: "user", content: ROTATE }] }).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(refused).toMatchObject({ status: 401, code: "invalid_api_key", type: "authentication_error" });
    const unknown = await client()
      .chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: ROTATE }] })
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.code).toBe("model_not_found");
    const invalid = await client()
      .chat.completions.create({ model: "edge-rag", messages: [{ role: "assistant", content: "hi" }] })
      .catch((e) => e);
    expect(invalid).toBeInstanceOf(OpenAI.BadRequestError);
    const tooHot = await client()
      .chat.completions.create({ model: "edge-rag", messages: [{ role: "user", content: ROTATE }], temperature: 3 })
      .catch((e) => e);
    expect(tooHot).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tooHot.param).toBe("temperature");
  });

  it("LlamaIndex.TS: its OpenAI LLM pointed at the stack's baseURL answers, streamed and not", async () => {
    const llm = new LlamaIndexOpenAI({ model: "edge-rag", apiKey: key, baseURL: `${stack.url}/v1` });
    const messages = [{ role: "user" as const, content: ROTATE }];
    const response = await llm.chat({ messages });
    const content = String(response.message.content);
    expect(content).toMatch(/To rotate an API key, create a new key/);
    expect((response.raw as ChatCompletion).citations[cited(content)[0]! - 1]).toBe(`${stack.url}/v1/documents/api-keys.md`);
    let streamed = "";
    for await (const chunk of await llm.chat({ messages, stream: true })) streamed += chunk.delta;
    expect(streamed).toBe(content);
    // A conversation through LlamaIndex too: the history comes with the messages.
    const followUp = await llm.chat({
      messages: [...messages, { role: "assistant", content }, { role: "user", content: FOLLOW_UP }],
    });
    expect(String(followUp.message.content)).toMatch(ROTATE_HOW_OFTEN);
  });
});
