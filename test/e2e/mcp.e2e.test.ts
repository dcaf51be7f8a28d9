import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueryResponse, SearchResponse } from "../../src/query/schemas";
import { freePort } from "../../tools/lib/ports";
import { type Stack, startStack } from "../../tools/stack/stack";
import { createKeyOnStack, ingestAndWait } from "./stack-client";

/**
 * POST /mcp driven by the MCP SDK's own client (Client + StreamableHTTPClientTransport, which also
 * validates each tool result against the tool's output schema) against the real local stack on a
 * free port with its own state: two tenants with their own documents and keys.
 */
let stack: Stack;
let stateDir: string;
const keys: Record<"adminA" | "readerA" | "adminB" | "readerB", string> = { adminA: "", readerA: "", adminB: "", readerB: "" };
const clients: Client[] = [];

const DOCUMENTS_A = [
  {
    id: "rotation.md",
    text: "# Rotating an API key\n\nTo rotate an API key, create a new key, move every client to it, then revoke the old key. A revoked key stops working within seconds.",
  },
  {
    id: "lighthouse.md",
    text: "The Fastnet lighthouse stands on a rock off the south-west coast of Ireland. Its cast-iron tower was replaced by granite in 1904.",
  },
];
const DOCUMENTS_B = [
  {
    id: "tenant-b-notes.md",
    text: "Tenant B keeps its own notes about tide tables in the harbour of Cobh, apart from every other tenant.",
  },
];

/** An MCP client connected with this credential header (none: no credential). */
async function connect(headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: "edge-rag-e2e", version: "1.0.0" });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), { requestInit: { headers } }));
  return client;
}
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "edge-rag-mcp-"));
  stack = await startStack({
    port: await freePort(),
    stateDir,
    workerVars: { RATE_LIMIT_QUERY: "100000/60s", RATE_LIMIT_INGEST: "10000/60s" },
    log: (component, line) => appendFileSync(join(stateDir, "stack.log"), `[${component}] ${line}\n`),
  });
  // One at a time: each `keys create` applies the migrations to the stack's D1 first.
  keys.adminA = await createKeyOnStack(stateDir, "mcp-a", "admin");
  keys.readerA = await createKeyOnStack(stateDir, "mcp-a", "reader");
  keys.adminB = await createKeyOnStack(stateDir, "mcp-b", "admin");
  keys.readerB = await createKeyOnStack(stateDir, "mcp-b", "reader");
  await Promise.all([ingestAndWait(stack.url, keys.adminA, DOCUMENTS_A), ingestAndWait(stack.url, keys.adminB, DOCUMENTS_B)]);
}, 300_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe("MCP over streamable HTTP (happy)", () => {
  it("lists the tools search and ask, each with input and output schemas", async () => {
    const client = await connect(bearer(keys.readerA));
    expect(client.getServerVersion()?.name).toBe("edge-rag");
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["ask", "search"]);
    for (const tool of tools) {
      expect(tool.description).toEqual(expect.any(String));
      expect(tool.inputSchema).toMatchObject({ type: "object", required: ["query"] });
      expect(tool.inputSchema.properties).toHaveProperty("top_k");
      expect(tool.outputSchema).toMatchObject({ type: "object" });
    }
  });

  it("search returns the caller's ranked sources", async () => {
    const client = await connect(bearer(keys.readerA));
    const result = await client.callTool({ name: "search", arguments: { query: "How do I rotate an API key?", top_k: 5 } });
    expect(result.isError).toBeFalsy();
    const { results } = result.structuredContent as SearchResponse;
    expect(results[0]!.document_id).toBe("rotation.md");
    expect(results.every((source) => DOCUMENTS_A.some((doc) => doc.id === source.document_id))).toBe(true);
    expect(results.map((source) => source.score)).toEqual([...results.map((source) => source.score)].sort((a, b) => b - a));
  });

  it("ask returns an answer that cites its sources", async () => {
    // X-API-Key works as well as Authorization: the same credentials as the HTTP API.
    const client = await connect({ "x-api-key": keys.readerA });
    const result = await client.callTool({ name: "ask", arguments: { query: "How do I rotate an API key?", top_k: 2 } });
    expect(result.isError).toBeFalsy();
    const response = result.structuredContent as QueryResponse;
    expect(response.answer).toMatch(/revoke/i);
    const cited = [...response.answer.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
    expect(cited.length).toBeGreaterThan(0);
    for (const n of cited) expect(response.sources[n - 1]).toBeDefined();
    expect(response.sources[cited[0]! - 1]!.document_id).toBe("rotation.md");
    const [content] = result.content as Array<{ type: string; text: string }>;
    expect(content!.text).toContain(response.answer);
    expect(content!.text).toContain("[1] rotation.md");
  });
});

describe("MCP over streamable HTTP (security)", () => {
  it("refuses a client without credentials with the API's 401 problem", async () => {
    const error = await connect({}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(401);
    expect((error as Error).message).toContain('"code":"CREDENTIALS_MISSING"');
  });

  it("refuses a revoked-looking (unknown) key with 401", async () => {
    const error = await connect(bearer(`erk_${"0".repeat(16)}_${"A".repeat(43)}`)).catch((caught: unknown) => caught);
    expect((error as StreamableHTTPError).code).toBe(401);
  });

  it("tenant B's key never sees tenant A's documents, and a tenant argument is refused", async () => {
    const client = await connect(bearer(keys.readerB));
    const searched = await client.callTool({ name: "search", arguments: { query: "rotate an API key lighthouse", top_k: 20 } });
    const ids = (searched.structuredContent as SearchResponse).results.map((source) => source.document_id);
    expect(ids.every((id) => id === "tenant-b-notes.md")).toBe(true);
    const asked = await client.callTool({ name: "ask", arguments: { query: "How do I rotate an API key?" } });
    const response = asked.structuredContent as QueryResponse;
    expect(response.sources.every((source) => source.document_id === "tenant-b-notes.md")).toBe(true);
    expect(response.answer).not.toMatch(/revoke the old key/i);

    const escaped = await client.callTool({ name: "search", arguments: { query: "rotate an API key", tenant: "mcp-a" } });
    expect(escaped.isError).toBe(true);
    const problem = JSON.parse((escaped.content as Array<{ text: string }>)[0]!.text);
    expect(problem).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(problem.detail).toContain("tenant");
  });
});
