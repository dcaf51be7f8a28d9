/**
 * What a POST /mcp body may hold and what it costs against the query rate limit. A JSON-RPC batch
 * is many messages in one request, so it pays per message: a `tools/call` runs a search or an
 * answer, and costs what one POST /v1/query costs; any other message (tools/list, initialize,
 * ping, notifications) is cheap but not free, MESSAGES_PER_TOKEN of them per token. A request
 * costs at least one token, and a batch holds at most MAX_BATCH_MESSAGES messages (POST
 * /v1/query/batch holds 32 queries: a batch of tool calls must not get around it).
 */
export const MAX_BATCH_MESSAGES = 16;
const TOOL_CALL_COST = 1;
const MESSAGES_PER_TOKEN = 4;

/** A batch over the cap, as the JSON-RPC error (Invalid Request) the transport gives for its own refusals. */
export const oversizedBatch = (body: unknown): { jsonrpc: "2.0"; id: null; error: { code: number; message: string } } | null =>
  Array.isArray(body) && body.length > MAX_BATCH_MESSAGES
    ? {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: `Invalid Request: a batch holds at most ${MAX_BATCH_MESSAGES} messages` },
      }
    : null;

/** Query tokens the body costs: TOOL_CALL_COST per tools/call, one per MESSAGES_PER_TOKEN other messages (rounded up), at least one. */
export function batchCost(body: unknown): number {
  const messages = Array.isArray(body) ? body : [body];
  const calls = messages.filter((message) => (message as { method?: unknown } | null)?.method === "tools/call").length;
  const others = messages.length - calls;
  return Math.max(1, calls * TOOL_CALL_COST + Math.ceil(others / MESSAGES_PER_TOKEN));
}
