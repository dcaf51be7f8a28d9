import { WorkerEntrypoint } from "cloudflare:workers";
import type { Bindings } from "../bindings";
import type { ServicesFactory } from "../services";
import type { QueryContext, QueryService } from "./query-service";
import {
  type BackendCall,
  type BackendStream,
  encodeEvents,
  type Outcome,
  outcomeOf,
  type QueryBackendMethods,
} from "./remote-query-service";
import type { QueryInput, SearchInput } from "./schemas";

/**
 * The query backend's entrypoint (see remote-query-service.ts for the contract): a Worker
 * entrypoint class built on an entry's services (local.ts; backend.ts deployed), whose methods run
 * the miss on this Worker's own bindings.
 */
/** The entrypoint class for an entry's services (local.ts, backend.ts: each with its own platform adapters). */
export function queryBackendEntrypoint(servicesFor: ServicesFactory) {
  const withoutBackend = new WeakMap<object, Bindings>();
  return class QueryBackend extends WorkerEntrypoint<Bindings> implements QueryBackendMethods {
    private run<T>(call: BackendCall, work: (query: QueryService, context: QueryContext) => Promise<T>): Promise<Outcome<T>> {
      let env = withoutBackend.get(this.env);
      if (!env) {
        env = { ...this.env, BACKEND: undefined } as Bindings;
        withoutBackend.set(this.env, env);
      }
      const context: QueryContext = {
        requestId: call.requestId,
        startedAt: performance.now() - call.elapsedMs,
        defer: (promise) => this.ctx.waitUntil(promise),
        refresh: call.refresh,
        tenantState: call.tenantState,
      };
      return outcomeOf(() => work(servicesFor(env).queryNearData, context), call.requestId);
    }

    answer(tenant: string, input: QueryInput, call: BackendCall) {
      return this.run(call, (query, context) => query.answer(tenant, input, context));
    }

    search(tenant: string, input: SearchInput, call: BackendCall) {
      return this.run(call, (query, context) => query.search(tenant, input, context));
    }

    stream(tenant: string, input: QueryInput, call: BackendCall) {
      return this.run(call, async (query, context): Promise<BackendStream> => {
        const events = await query.stream(tenant, input, context);
        return { cache: events.cache, events: encodeEvents(events, call.requestId) };
      });
    }
  };
}
