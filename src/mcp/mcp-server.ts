import { z } from "@hono/zod-openapi";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { ChatService } from "../chat/chat-service";
import { chatSchemas } from "../chat/schemas";
import { ApiError, fieldErrors, internalError, toProblem, validationFailed } from "../errors";
import { documentTitle } from "../ingest/document-input";
import { errorFields, type Logger } from "../logger";
import type { QueryContext, QueryService } from "../query/query-service";
import { queryResponseSchemas, querySchemas, type Source } from "../query/schemas";
import { locationOf } from "../query/source-location";
import { VERSION } from "../version";
import { zodJsonSchemaValidator } from "./json-schema-validator";

/**
 * The Model Context Protocol face of the query use case: tools `search` and `ask` over the same
 * `QueryService` the HTTP routes call, for one already authenticated tenant. A server is built per
 * request (stateless: no session, nothing kept between requests), so the tenant is fixed by the
 * caller's credential and can never come from a tool argument.
 *
 * Promise: tool inputs are the API's own request schemas (strict: an unknown argument such as
 * `tenant` is refused), tool results carry the API's response as `structuredContent` (described by
 * the tool's outputSchema) plus a text rendering for models. Failure modes: invalid arguments or a
 * query that fails give a tool result with `isError: true` whose text is the API's problem object
 * (code, detail, request id), never a stack or an upstream body; a 5xx is logged; an unknown tool
 * is a JSON-RPC InvalidParams error. Latency: that of POST /v1/search or /v1/query (not streamed).
 *
 * Why the SDK's low-level `Server` and not `McpServer`: McpServer converts schemas with its zod v3
 * compatibility layer and zod-to-json-schema, which would add ~20 KiB gzip to the worker for
 * nothing: our schemas are zod 4, which converts them itself (`z.toJSONSchema`).
 */

/**
 * `ask` takes what POST /v1/query takes, except how the answer is serialised (one tool result), plus
 * an optional conversation: the question is then condensed into a standalone one first, as by POST
 * /v1/chat/completions (the server keeps no conversation: the client sends it each time).
 */
const { QueryRequestSchema, SearchRequestSchema } = querySchemas();
const { QueryResponseSchema, SearchResponseSchema } = queryResponseSchemas();
export const AskInputSchema = QueryRequestSchema.omit({ stream: true }).extend({
  history: z
    .array(z.strictObject({ role: z.enum(["user", "assistant"]), content: z.string().max(32_000) }))
    .max(63)
    .optional()
    .openapi({ description: "The conversation before this question, oldest first (user and assistant turns)" }),
});
const AskOutputSchema = QueryResponseSchema.extend({
  rewrite: chatSchemas().RewriteSchema.optional().openapi({ description: "With a history: the standalone question that was answered" }),
});
export const SearchInputSchema = SearchRequestSchema;

export interface McpScope {
  tenant: string;
  query: QueryService;
  chat: ChatService;
  context: QueryContext;
  log: Logger;
}

interface ToolSpec<I extends z.ZodType, O extends z.ZodType> {
  title: string;
  description: string;
  input: I;
  output: O;
  run: (input: z.output<I>, scope: McpScope) => Promise<{ text: string; result: z.output<O> }>;
}

const tool = <I extends z.ZodType, O extends z.ZodType>(spec: ToolSpec<I, O>) => spec;

const TOOLS = {
  search: tool({
    title: "Search the documents",
    description:
      "Rank the caller's documents (chunks, or one result per document with group_by: document) for a query, without " +
      "generating an answer. Each result has the chunk id, document_id, text (at most 500 characters), a 0..1 score and " +
      "the document's metadata. mode: hybrid (default), vector or keyword; filters on document metadata with $eq $ne $in " +
      '$nin $lt $lte $gt $gte (a bare value means $eq), e.g. {"collection": "guide"}.',
    input: SearchInputSchema,
    output: SearchResponseSchema,
    run: async (input, { tenant, query, context }) => {
      const result = await query.search(tenant, input, context);
      return { text: renderSources(result.results), result };
    },
  }),
  ask: tool({
    title: "Ask the documents",
    description:
      "Answer a question from the caller's documents, with citations: [n] refers to sources[n-1]. " +
      "metadata.degraded says whether part of the pipeline fell back (e.g. an extractive answer built from the sources). " +
      "Same options as search (top_k, mode, filters). For a follow-up, pass the conversation so far as history: the " +
      "question is rewritten into a standalone one from it (rewrite.standalone_question says how) before retrieval.",
    input: AskInputSchema,
    output: AskOutputSchema,
    run: async ({ history, ...input }, { tenant, query, chat, context }) => {
      if (!history?.length) {
        const result = await query.answer(tenant, input, context);
        return { text: `${result.answer}\n\nSources:\n${renderSources(result.sources)}`, result };
      }
      const rewrite = await chat.condense(tenant, history, input.query);
      const answered = await query.answer(tenant, { ...input, query: rewrite.standalone_question }, context);
      const result = { ...answered, rewrite };
      return {
        text: `${result.answer}\n\n(asked as: ${rewrite.standalone_question})\n\nSources:\n${renderSources(result.sources)}`,
        result,
      };
    },
  }),
};

/**
 * What tools/list answers, converted to JSON Schema once per isolate (this module loads on the first
 * /mcp request), not per call: a batch of tools/list calls would otherwise convert four schemas each.
 */
export const TOOL_LIST: readonly Tool[] = Object.entries(TOOLS).map(
  ([name, spec]): Tool => ({
    name,
    title: spec.title,
    description: spec.description,
    // The API's request schema as the client sends it (defaults optional), its response as it is.
    inputSchema: z.toJSONSchema(spec.input, { io: "input" }) as Tool["inputSchema"],
    outputSchema: z.toJSONSchema(spec.output, { io: "output" }) as Tool["outputSchema"],
    annotations: { readOnlyHint: true, openWorldHint: false },
  }),
);

type ToolName = keyof typeof TOOLS;
const isToolName = (name: string): name is ToolName => Object.hasOwn(TOOLS, name);

export function createMcpServer(scope: McpScope): Server {
  const server = new Server(
    { name: "edge-rag", version: VERSION },
    {
      capabilities: { tools: {} },
      jsonSchemaValidator: zodJsonSchemaValidator,
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOL_LIST }));

  server.setRequestHandler(CallToolRequestSchema, async ({ params }) => {
    if (!isToolName(params.name)) throw new McpError(ErrorCode.InvalidParams, `unknown tool: ${params.name}`);
    return callTool(params.name, params.arguments ?? {}, scope);
  });

  return server;
}

/** Validates, runs, and turns any failure into an error result carrying the API's problem object. */
async function callTool(name: ToolName, args: unknown, scope: McpScope): Promise<CallToolResult> {
  const spec: ToolSpec<z.ZodType, z.ZodType> = TOOLS[name];
  try {
    const parsed = spec.input.safeParse(args);
    if (!parsed.success) throw validationFailed(fieldErrors(parsed.error.issues));
    const { text, result } = await spec.run(parsed.data, scope);
    return { content: [{ type: "text", text }], structuredContent: result as Record<string, unknown> };
  } catch (error) {
    let apiError: ApiError;
    if (error instanceof ApiError) {
      apiError = error;
      if (error.status >= 500) scope.log.error("mcp tool failed", { tool: name, ...errorFields(error) });
    } else {
      scope.log.error("mcp tool failed", { tool: name, ...errorFields(error) });
      apiError = internalError();
    }
    return { content: [{ type: "text", text: JSON.stringify(toProblem(apiError, scope.context.requestId)) }], isError: true };
  }
}

/**
 * Sources as a model reads them: `[n] document_id — title · p. 3 · Installation › Upgrades (score)`
 * (each part only where known), then the text.
 */
function renderSources(sources: Source[]): string {
  if (sources.length === 0) return "No matching documents.";
  return sources
    .map((source, i) => {
      const title = documentTitle(source.metadata);
      const heading = [title.trim() ? `${source.document_id} — ${title}` : source.document_id, locationOf(source)]
        .filter(Boolean)
        .join(" · ");
      return `[${i + 1}] ${heading} (score ${source.score.toFixed(3)})\n${source.text}`;
    })
    .join("\n\n");
}
