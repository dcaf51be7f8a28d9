import { ApiError } from "../errors";
import type { QueryContext, QueryEvent, QueryEvents, QueryService } from "../query/query-service";
import type { QueryInput, QueryResponse } from "../query/schemas";
import type { ChatTurn, RewriteMethod } from "../shared/condense-question";
import type { CollectionCatalog } from "./collections";
import type { QuestionCondenser } from "./condense";
import { BASE_MODEL, textOf } from "./messages";
import type { ChatMessage, Model } from "./schemas";

/**
 * The conversation use case behind POST /v1/chat/completions (and the MCP `ask` tool's history),
 * built once per isolate in `Services`: the last user message is condensed into a standalone
 * question from the earlier turns (condense.ts), which the query service (with its cache, so the
 * cache is keyed on the standalone question) answers; the model picks the collection. The server
 * keeps no conversation: the client sends the history every time, as with OpenAI's API.
 *
 * Failure modes: the query service's (a 503 when the store is down; never a 5xx for the origin,
 * whose absence degrades the answer), plus MODEL_NOT_FOUND (404) for a model that is not
 * `edge-rag` or `edge-rag/<an existing collection>`. A collection is checked only when retrieval
 * found nothing, so a cache hit costs no extra read.
 * Latency: the condense call (none for a first message) + the query's.
 */
export interface ChatService {
  /** `edge-rag`, then `edge-rag/<collection>` per collection of the tenant. */
  models(tenant: string): Promise<Model[]>;
  answer(tenant: string, conversation: Conversation, context: QueryContext): Promise<ChatAnswer>;
  /** The standalone question for `question` after `history` (the MCP `ask` tool's history). */
  condense(tenant: string, history: readonly ChatTurn[], question: string): Promise<Rewrite>;
  /** Condenses and retrieves before it resolves (so their failures are ordinary errors), then streams the query's events. */
  stream(tenant: string, conversation: Conversation, context: QueryContext): Promise<ChatStream>;
}

/** A conversation and how to answer its last message (POST /v1/query's options, and the request's max_tokens and temperature). */
export interface Conversation extends Pick<QueryInput, "top_k" | "mode" | "filters" | "explain" | "cache" | "generation"> {
  model: string;
  /** Oldest first; the last is the user's question. */
  messages: readonly ChatMessage[];
}

export interface Rewrite {
  standalone_question: string;
  method: RewriteMethod;
}

export interface ChatAnswer {
  rewrite: Rewrite;
  response: QueryResponse;
}

export interface ChatStream {
  rewrite: Rewrite;
  events: QueryEvents;
}

const MODEL_PREFIX = `${BASE_MODEL}/`;

export interface ChatServiceDeps {
  query: QueryService;
  condenser: QuestionCondenser;
  collections: CollectionCatalog;
}

export function createChatService({ query, condenser, collections }: ChatServiceDeps): ChatService {
  /** The standalone question and the query it makes. */
  async function prepare(
    tenant: string,
    conversation: Conversation,
  ): Promise<{ rewrite: Rewrite; input: QueryInput; collection?: string }> {
    const collection = collectionOf(conversation.model);
    const { history, question } = split(conversation.messages);
    const rewrite = await condense(tenant, history, question);
    return {
      rewrite,
      collection,
      input: {
        query: rewrite.standalone_question,
        top_k: conversation.top_k,
        mode: conversation.mode,
        filters: collection === undefined ? conversation.filters : { ...conversation.filters, collection },
        explain: conversation.explain,
        cache: conversation.cache,
        ...(conversation.generation === undefined ? {} : { generation: conversation.generation }),
      },
    };
  }

  async function condense(tenant: string, history: readonly ChatTurn[], question: string): Promise<Rewrite> {
    const condensed = await condenser.condense(tenant, history, question);
    return { standalone_question: condensed.question, method: condensed.method };
  }

  /** Nothing retrieved from a named collection: a collection that does not exist is an unknown model. */
  async function checkCollection(tenant: string, collection: string | undefined, sourceCount: number, model: string) {
    if (collection !== undefined && sourceCount === 0 && !(await collections.has(tenant, collection))) throw modelNotFound(model);
  }

  return {
    condense,

    async models(tenant) {
      const names = await collections.list(tenant);
      return [BASE_MODEL, ...names.map((name) => `${MODEL_PREFIX}${name}`)].map((id) => ({
        id,
        object: "model" as const,
        created: 0,
        owned_by: "edge-rag",
      }));
    },

    async answer(tenant, conversation, context) {
      const { rewrite, input, collection } = await prepare(tenant, conversation);
      const response = await query.answer(tenant, input, context);
      await checkCollection(tenant, collection, response.sources.length, conversation.model);
      return { rewrite, response };
    },

    async stream(tenant, conversation, context) {
      const { rewrite, input, collection } = await prepare(tenant, conversation);
      const events = await query.stream(tenant, input, context);
      // The first event is the sources: read it before anything is sent, so an unknown model is a 404.
      const iterator = events[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (!first.done && first.value.type === "sources") {
        await checkCollection(tenant, collection, first.value.sources.length, conversation.model).catch(async (error) => {
          await iterator.return?.();
          throw error;
        });
      }
      async function* replayed(): AsyncGenerator<QueryEvent> {
        try {
          if (first.done) return;
          yield first.value;
          for (let step = await iterator.next(); !step.done; step = await iterator.next()) yield step.value;
        } finally {
          // A reader that leaves early (the client went away) cancels the origin's stream, as for /v1/query.
          await iterator.return?.();
        }
      }
      return { rewrite, events: Object.assign(replayed(), { cache: events.cache }) };
    },
  };
}

/** The collection a model names: none for `edge-rag`; anything that is not ours is an unknown model. */
function collectionOf(model: string): string | undefined {
  if (model === BASE_MODEL) return undefined;
  const collection = model.startsWith(MODEL_PREFIX) ? model.slice(MODEL_PREFIX.length) : "";
  if (collection === "") throw modelNotFound(model);
  return collection;
}

const modelNotFound = (model: string) =>
  new ApiError("MODEL_NOT_FOUND", `the model '${model}' does not exist: ask GET /v1/models for this tenant's models`);

/** The conversation before the last message, and the last message's text. */
function split(messages: readonly ChatMessage[]): { history: ChatTurn[]; question: string } {
  const turns: ChatTurn[] = [];
  for (const message of messages) {
    // system/developer messages set no rules here: the answer's rules are the server's.
    if (message.role === "user" || message.role === "assistant") turns.push({ role: message.role, content: textOf(message.content) });
  }
  const last = turns.pop();
  return { history: turns, question: last?.content ?? "" };
}
