import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, ListToolsResult } from "@modelcontextprotocol/sdk/types.js";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { zodJsonSchemaValidator } from "../../src/mcp/json-schema-validator";
import { MAX_BATCH_MESSAGES } from "../../src/mcp/mcp-batch";
import { createMcpServer, type McpScope } from "../../src/mcp/mcp-server";
import { call, callWithEnv, createKey, DEAD_ORIGIN, json, uniqueTenant } from "./helpers";
import { LOCATED_MARKDOWN_FACT, uploadLocatedFiles } from "./ingest-fixtures";
import { CORPUS, indexFixture, QUESTIONS } from "./query-fixtures";
import { PDF_FACT } from "./test-files";

/**
 * POST /mcp at the HTTP level: JSON-RPC messages as any MCP client sends them (the SDK's own client
 * drives it end to end in test/e2e/mcp.e2e.test.ts), and the API's error shapes around them.
 */
const tenant = uniqueTenant("mcp");
let reader = "";

beforeAll(async () => {
  ({ key: reader } = await createKey(tenant, ["reader"]));
  await indexFixture(tenant, [...CORPUS, CAUSEWAY], { vectors: false });
}, 120_000);

/** A document with a title (the corpus has none): the text rendering names it. */
const CAUSEWAY = {
  id: "causeway",
  collection: "geology",
  metadata: { title: "The Giant's Causeway" },
  text: "About 40,000 interlocking basalt columns, most of them hexagonal, formed as a lava flow cooled and contracted.",
};

const ACCEPT = "application/json, text/event-stream";
const rpc = (method: string, params: Record<string, unknown> = {}, id = 1) => ({ jsonrpc: "2.0", id, method, params });
const toolCall = (name: string, args: Record<string, unknown>, id = 1) => rpc("tools/call", { name, arguments: args }, id);

function mcp(body: unknown, options: { auth?: string; headers?: Record<string, string>; method?: string } = {}) {
  return call("/mcp", { auth: options.auth ?? reader, body, method: options.method, headers: { accept: ACCEPT, ...options.headers } });
}

async function result(response: Response) {
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get("content-type")).toContain("application/json");
  return (await json(response)).result;
}

describe("mcp (happy)", () => {
  it("initializes without a session id: the server is stateless", async () => {
    const response = await mcp(
      rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "test", version: "1" } }),
    );
    const initialized = await result(response);
    expect(response.headers.get("mcp-session-id")).toBeNull();
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(initialized.serverInfo.name).toBe("edge-rag");
    expect(initialized.capabilities).toHaveProperty("tools");
  });

  it("lists search and ask with the API's request schemas as input schemas", async () => {
    const { tools } = await result(await mcp(rpc("tools/list")));
    expect(tools.map((tool: { name: string }) => tool.name).sort()).toEqual(["ask", "search"]);
    const search = tools.find((tool: { name: string }) => tool.name === "search");
    const ask = tools.find((tool: { name: string }) => tool.name === "ask");
    expect(search.inputSchema).toMatchObject({ type: "object", required: ["query"], additionalProperties: false });
    expect(Object.keys(search.inputSchema.properties).sort()).toEqual([
      "cache",
      "explain",
      "filters",
      "group_by",
      "mode",
      "query",
      "top_k",
    ]);
    expect(search.inputSchema.properties.top_k).toMatchObject({ maximum: 100, default: 10 });
    // ask: /v1/query's fields without `stream` (a tool result is one message).
    expect(Object.keys(ask.inputSchema.properties).sort()).toEqual(["cache", "explain", "filters", "history", "mode", "query", "top_k"]);
    expect(ask.inputSchema.properties.top_k).toMatchObject({ maximum: 50, default: 5 });
    expect(search.outputSchema.properties).toHaveProperty("results");
    expect(ask.outputSchema.properties).toHaveProperty("answer");
    expect(ask.annotations).toMatchObject({ readOnlyHint: true });
  });

  it("search: the tenant's ranked sources as structured content and as text", async () => {
    const called = await result(await mcp(toolCall("search", { query: QUESTIONS.penicillin.query, mode: "keyword", top_k: 3 })));
    expect(called.isError).toBeUndefined();
    expect(called.structuredContent.results[0].document_id).toBe(QUESTIONS.penicillin.document);
    expect(called.structuredContent.metadata.request_id).toEqual(expect.any(String));
    expect(called.content[0].text).toMatch(new RegExp(`^\\[1\\] ${QUESTIONS.penicillin.document} \\(score`));
    const titled = await result(await mcp(toolCall("search", { query: "basalt columns", mode: "keyword", top_k: 1 })));
    expect(titled.content[0].text).toMatch(/^\[1\] causeway — The Giant's Causeway \(score [0-9.]+\)\nAbout 40,000/);
  });

  it("ask: the query service's answer, degraded but cited when no origin can generate", async () => {
    const response = await callWithEnv({ ORIGIN_URLS: DEAD_ORIGIN }, "/mcp", {
      auth: reader,
      body: toolCall("ask", { query: QUESTIONS.fire.query, mode: "keyword", top_k: 3, cache: false }),
      headers: { accept: ACCEPT },
    });
    const called = await result(response);
    expect(called.isError).toBeUndefined();
    const { answer, sources, metadata } = called.structuredContent;
    expect(metadata).toMatchObject({ degraded: true, degraded_reasons: expect.arrayContaining(["generation_unavailable"]) });
    expect(sources[0].document_id).toBe(QUESTIONS.fire.document);
    expect(answer).toContain(QUESTIONS.fire.answer);
    expect(answer).toMatch(/\[1\]/);
    expect(called.content[0].text).toContain(`Sources:\n[1] ${QUESTIONS.fire.document}`);
  });
});

describe("mcp ask with a history (happy)", () => {
  it("condenses the follow-up from the history before retrieval, and says how", async () => {
    const history = [
      { role: "user", content: QUESTIONS.fire.query },
      { role: "assistant", content: "It started in a bakery on Pudding Lane [1]." },
    ];
    const response = await call("/mcp", {
      auth: reader,
      body: toolCall("ask", { query: "How many houses did it destroy?", history, cache: false }),
      headers: { accept: ACCEPT },
    });
    const called = await result(response);
    expect(called.isError).toBeUndefined();
    const { rewrite, sources } = called.structuredContent;
    expect(rewrite).toMatchObject({
      method: "rules",
      standalone_question: expect.stringMatching(/^How many houses did it destroy\? \(.*Fire.*London.*\)$/),
    });
    expect(sources[0].document_id).toBe(QUESTIONS.fire.document);
    expect(called.content[0].text).toContain(`(asked as: ${rewrite.standalone_question})`);
  });
});

describe("mcp: where each source came from (happy)", () => {
  // A tenant of its own, so that the corpus' rankings above stay as they are.
  const located = uniqueTenant("mcp-files");
  let writer = "";

  beforeAll(async () => {
    ({ key: writer } = await createKey(located, ["writer"]));
    await uploadLocatedFiles(writer, "manuals");
  }, 120_000);

  interface Located {
    document_id: string;
    text: string;
    page?: number;
    section?: string;
  }

  it("search: structured results carry page and section; the text shows them after the title", async () => {
    const fromPdf = await result(
      await mcp(toolCall("search", { query: "heron index of the Lisbon plant", mode: "keyword", top_k: 3 }), { auth: writer }),
    );
    const page = (fromPdf.structuredContent.results as Located[]).find((source) => source.text.includes(PDF_FACT));
    expect(page).toMatchObject({ document_id: "plant-report.pdf", page: 3 });
    expect(page).not.toHaveProperty("section");
    expect(fromPdf.content[0].text).toMatch(/^\[1\] plant-report\.pdf — Plant Report · p\. 3 \(score [0-9.]+\)\n/);

    const fromMarkdown = await result(
      await mcp(toolCall("search", { query: "When does the pelican agent upgrade itself?", mode: "keyword", top_k: 3 }), { auth: writer }),
    );
    const section = (fromMarkdown.structuredContent.results as Located[]).find((source) => source.text.includes(LOCATED_MARKDOWN_FACT));
    expect(section).toMatchObject({ document_id: "install.md", section: "Installation › Upgrades" });
    expect(section).not.toHaveProperty("page");
    expect(fromMarkdown.content[0].text).toMatch(/^\[1\] install\.md — Installation · Installation › Upgrades \(score [0-9.]+\)\n/);
  });

  it("ask: the answer's sources carry them, in the structured result and the text", async () => {
    const called = await result(
      await mcp(toolCall("ask", { query: "What is the heron index of the Lisbon plant?", top_k: 3, cache: false }), { auth: writer }),
    );
    expect(called.isError).toBeUndefined();
    const page = (called.structuredContent.sources as Located[]).find((source) => source.text.includes(PDF_FACT));
    expect(page).toMatchObject({ document_id: "plant-report.pdf", page: 3 });
    expect(page).not.toHaveProperty("section");
    expect(called.content[0].text).toMatch(/\nSources:\n[\s\S]*\[\d+\] plant-report\.pdf — Plant Report · p\. 3 \(score/);
  });
});

describe("mcp (error)", () => {
  it("refuses a call without credentials with a 401 problem", async () => {
    const response = await call("/mcp", { body: rpc("tools/list"), headers: { accept: ACCEPT } });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect((await json(response)).code).toBe("CREDENTIALS_MISSING");
  });

  it("refuses a principal without the reader role (403)", async () => {
    const { key } = await createKey(tenant, []);
    const response = await mcp(rpc("tools/list"), { auth: key });
    expect(response.status).toBe(403);
    expect((await json(response)).code).toBe("FORBIDDEN");
  });

  it.each(["GET", "DELETE"])("answers %s with 405 and Allow: POST (no sessions, no server stream)", async (method) => {
    const response = await call("/mcp", { method, auth: reader, headers: { accept: "text/event-stream" } });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect((await json(response)).code).toBe("METHOD_NOT_ALLOWED");
  });

  it("answers a body that is not JSON with a 400 problem", async () => {
    const response = await mcp("{not json", { headers: { "content-type": "application/json" } });
    expect(response.status).toBe(400);
    expect((await json(response)).code).toBe("MALFORMED_REQUEST");
  });

  it("refuses a body over 64 KiB with a 413 problem", async () => {
    const response = await mcp(toolCall("search", { query: "x".repeat(70_000) }));
    expect(response.status).toBe(413);
    expect((await json(response)).code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("refuses a tenant argument: tool inputs are strict, the tenant comes from the credential", async () => {
    const called = await result(await mcp(toolCall("search", { query: QUESTIONS.penicillin.query, tenant: "someone-else" })));
    expect(called.isError).toBe(true);
    const problem = JSON.parse(called.content[0].text);
    expect(problem).toMatchObject({ status: 400, code: "VALIDATION_FAILED", request_id: expect.any(String) });
    expect(problem.detail).toContain("tenant");
  });

  it("refuses invalid arguments with the API's validation problem", async () => {
    const called = await result(await mcp(toolCall("ask", { query: "   ", top_k: 500 })));
    expect(called.isError).toBe(true);
    const problem = JSON.parse(called.content[0].text);
    expect(problem.code).toBe("VALIDATION_FAILED");
    expect(problem.errors.map((error: { path: string }) => error.path).sort()).toEqual(["query", "top_k"]);
  });

  it("answers an unknown tool with a JSON-RPC invalid-params error", async () => {
    const response = await mcp(toolCall("delete_everything", {}));
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.error).toMatchObject({ code: -32602 });
    expect(body.error.message).toContain("delete_everything");
  });
});

describe("mcp (security)", () => {
  it("charges one query token per tool call, a JSON-RPC batch included", async () => {
    const { key } = await createKey(uniqueTenant("mcp-rl"), ["reader"]);
    const limited = { RATE_LIMIT_QUERY: "3/1h" };
    const send = (body: unknown) => callWithEnv(limited, "/mcp", { auth: key, body, headers: { accept: ACCEPT } });
    const listed = await send(rpc("tools/list"));
    expect(listed.status).toBe(200);
    expect(listed.headers.get("ratelimit-remaining")).toBe("2");
    const batch = [1, 2, 3].map((id) => toolCall("search", { query: `question ${id}`, mode: "keyword" }, id));
    const refused = await send(batch);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toEqual(expect.any(String));
    expect((await json(refused)).code).toBe("RATE_LIMITED");
  });

  it("charges every message of a batch: tools/call one query token, four other messages one token", async () => {
    const { key } = await createKey(uniqueTenant("mcp-batch-cost"), ["reader"]);
    const send = (body: unknown) => callWithEnv({ RATE_LIMIT_QUERY: "20/1h" }, "/mcp", { auth: key, body, headers: { accept: ACCEPT } });
    const lists = await send(Array.from({ length: 16 }, (_, id) => rpc("tools/list", {}, id)));
    expect(lists.status).toBe(200);
    expect(await json(lists)).toHaveLength(16);
    expect(lists.headers.get("ratelimit-remaining")).toBe("16"); // 16 tools/list: 4 tokens
    const mixed = [toolCall("search", { query: "basalt", mode: "keyword" }, 1), ...[2, 3, 4, 5, 6].map((id) => rpc("ping", {}, id))];
    const charged = await send(mixed);
    expect(charged.status).toBe(200);
    expect(charged.headers.get("ratelimit-remaining")).toBe("13"); // 1 call + ceil(5 / 4)
  });

  it(`refuses a batch of more than ${MAX_BATCH_MESSAGES} messages with a JSON-RPC error: nothing runs, nothing is charged`, async () => {
    const { key } = await createKey(uniqueTenant("mcp-batch-cap"), ["reader"]);
    const send = (body: unknown) => callWithEnv({ RATE_LIMIT_QUERY: "5/1h" }, "/mcp", { auth: key, body, headers: { accept: ACCEPT } });
    const refused = await send(Array.from({ length: MAX_BATCH_MESSAGES + 1 }, (_, id) => rpc("tools/list", {}, id)));
    expect(refused.status).toBe(400);
    expect(await json(refused)).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, message: `Invalid Request: a batch holds at most ${MAX_BATCH_MESSAGES} messages` },
    });
    const next = await send(rpc("tools/list"));
    expect(next.status).toBe(200);
    expect(next.headers.get("ratelimit-remaining")).toBe("4"); // only this request was charged
  });

  it("never returns another tenant's documents", async () => {
    const { key } = await createKey(uniqueTenant("mcp-other"), ["reader"]);
    const called = await result(await mcp(toolCall("search", { query: QUESTIONS.penicillin.query, mode: "keyword" }), { auth: key }));
    expect(called.structuredContent.results).toEqual([]);
    expect(called.content[0].text).toBe("No matching documents.");
  });
});

describe("the MCP server's tool list", () => {
  /** tools/list answered by a fresh server (as each request builds one), through a transport that keeps what it is sent. */
  async function listTools(): Promise<ListToolsResult> {
    const server = createMcpServer({} as McpScope); // tools/list reads no scope
    const sent: JSONRPCMessage[] = [];
    const transport: Transport = {
      start: async () => {},
      close: async () => {},
      send: async (message) => {
        sent.push(message);
      },
    };
    await server.connect(transport);
    transport.onmessage?.({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    const [reply] = sent;
    if (!reply || !("result" in reply)) throw new Error(`tools/list failed: ${JSON.stringify(reply)}`);
    return reply.result as ListToolsResult;
  }

  it("converts the tools' schemas to JSON Schema once per isolate, not per tools/list call", async () => {
    const first = await listTools();
    const second = await listTools();
    expect(first.tools).toHaveLength(2);
    for (const [i, tool] of first.tools.entries()) {
      expect(second.tools[i]!.inputSchema).toBe(tool.inputSchema);
      expect(second.tools[i]!.outputSchema).toBe(tool.outputSchema);
    }
  });
});

describe("the MCP server's JSON Schema validator (zod, instead of ajv)", () => {
  it("accepts what a schema allows and says why it refuses the rest", () => {
    const validate = zodJsonSchemaValidator.getValidator<{ name: string }>({
      type: "object",
      properties: { name: { type: "string", minLength: 2 }, age: { type: "integer", minimum: 0 } },
      required: ["name"],
    });
    expect(validate({ name: "Ada", age: 36 })).toMatchObject({ valid: true, data: { name: "Ada", age: 36 } });
    const refused = validate({ name: "A", age: -1 });
    expect(refused.valid).toBe(false);
    expect(refused.errorMessage).toContain("name");
    expect(refused.errorMessage).toContain("age");
    expect(validate({ age: 3 }).valid).toBe(false);
  });
});
