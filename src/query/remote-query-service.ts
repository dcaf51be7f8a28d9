import { ApiError, type ErrorCode, internalError, type Problem, toProblem } from "../errors";
import { errorFields, log } from "../logger";
import type { TenantState } from "../store/tenant-store";
import type { CacheOutcome, QueryContext, QueryEvent, QueryEvents, QueryService } from "./query-service";
import type { QueryInput, QueryResponse, SearchInput, SearchResponse } from "./schemas";

/**
 * The miss path next to the data (issue 24, part 3; docs/miss-path.md): the query use case behind
 * the colo's answer cache tiers (the regional tiers, KV and Redis; embedding cache, embed, the
 * tenant's index version, retrieve, hydrate, rerank, generate) as a Worker entrypoint, deployed as its own Worker with a placement hint for the
 * origin's region (wrangler.backend.toml) and reached from every colo's front by the BACKEND
 * service binding: a miss then crosses regions once, for this call, and every call it makes is
 * in-region. Locally the binding points at this entrypoint of the same worker (wrangler.toml), and
 * the WAN layer puts it at the primary region's distance.
 *
 * Promise: the same results as the front's own query service, from the same code (`services.queryNearData`
 * of the backend's bindings, without the BACKEND binding, so it never calls itself). Failure modes:
 * an ApiError of the use case comes back as its problem (and headers), which the front rethrows as
 * the same error; a stream's error event likewise. Anything else (this Worker unreachable, an
 * exception in transit) rejects the call, and the front answers on its own bindings instead
 * (`remoteQueryService`). Latency: one service-binding round trip from the front, plus the miss.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; problem: Problem; headers: Record<string, string> };

/** What the front passes along: its request id, and how long it has spent on the request (query_time_ms counts from its start). */
export interface BackendCall {
  requestId: string;
  elapsedMs: number;
  /** The front refreshes a stale entry (QueryContext.refresh). */
  refresh?: boolean;
  /** The tenant state the front keyed the request with (QueryContext.tenantState). */
  tenantState?: TenantState;
}

/** A stream's events as NDJSON (error events as their problem), with how the cache answered. */
export interface BackendStream {
  cache: CacheOutcome;
  events: ReadableStream<Uint8Array>;
}

export interface QueryBackendMethods {
  answer(tenant: string, input: QueryInput, call: BackendCall): Promise<Outcome<QueryResponse>>;
  stream(tenant: string, input: QueryInput, call: BackendCall): Promise<Outcome<BackendStream>>;
  search(tenant: string, input: SearchInput, call: BackendCall): Promise<Outcome<SearchResponse>>;
}

/**
 * The front's query service on a miss: the backend's, over the BACKEND binding, or `local` (the
 * same use case on the front's own bindings) when the backend cannot be reached. A batch stays
 * local (its entries share one embedding call and one index-version read here).
 */
export function remoteQueryService(backend: QueryBackendMethods, local: QueryService): QueryService {
  const call = (context: QueryContext): BackendCall => ({
    requestId: context.requestId,
    elapsedMs: performance.now() - context.startedAt,
    refresh: context.refresh,
    tenantState: context.tenantState,
  });
  async function viaBackend<T>(remote: () => Promise<Outcome<T>>, fallback: () => Promise<T>): Promise<T> {
    let outcome: Outcome<T>;
    try {
      outcome = await remote();
    } catch (error) {
      log.warn("query backend unreachable; answering here", errorFields(error));
      return fallback();
    }
    if (outcome.ok) return outcome.value;
    throw errorFromProblem(outcome.problem, outcome.headers);
  }
  return {
    answer: (tenant, input, context) =>
      viaBackend(
        () => backend.answer(tenant, input, call(context)),
        () => local.answer(tenant, input, context),
      ),
    search: (tenant, input, context) =>
      viaBackend(
        () => backend.search(tenant, input, call(context)),
        () => local.search(tenant, input, context),
      ),
    stream: (tenant, input, context) =>
      viaBackend<QueryEvents>(
        async () => {
          const outcome = await backend.stream(tenant, input, call(context));
          return outcome.ok
            ? { ok: true, value: Object.assign(decodeEvents(outcome.value.events), { cache: outcome.value.cache }) }
            : outcome;
        },
        () => local.stream(tenant, input, context),
      ),
    batch: (tenant, entries, context) => local.batch(tenant, entries, context),
  };
}

// ─── Across the binding ──────────────────────────────────────────────────────────────────────────

export async function outcomeOf<T>(work: () => Promise<T>, requestId: string): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    const apiError = error instanceof ApiError ? error : internalError();
    if (!(error instanceof ApiError)) log.error("query backend failed", { request_id: requestId, ...errorFields(error) });
    return { ok: false, problem: toProblem(apiError, requestId), headers: apiError.headers };
  }
}

/** The ApiError a problem renders (its class is not kept across the binding: its code, status, detail, headers and extensions are). */
function errorFromProblem(problem: Problem, headers: Record<string, string>): ApiError {
  const { type: _type, title: _title, status, detail, code, request_id: _requestId, ...extensions } = problem;
  return new ApiError(code as ErrorCode, detail, { status, headers, extensions });
}

type WireEvent = Exclude<QueryEvent, { type: "error" }> | { type: "error"; problem: Problem; headers: Record<string, string> };

export function encodeEvents(events: AsyncIterable<QueryEvent>, requestId: string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) return controller.close();
      const event = next.value;
      const wire: WireEvent =
        event.type === "error" ? { type: "error", problem: toProblem(event.error, requestId), headers: event.error.headers } : event;
      controller.enqueue(encoder.encode(`${JSON.stringify(wire)}\n`));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

async function* decodeEvents(stream: ReadableStream<Uint8Array>): AsyncGenerator<QueryEvent> {
  let buffered = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const wire = JSON.parse(buffered.slice(0, newline)) as WireEvent;
      buffered = buffered.slice(newline + 1);
      yield wire.type === "error" ? { type: "error", error: errorFromProblem(wire.problem, wire.headers) } : wire;
      newline = buffered.indexOf("\n");
    }
  }
}
