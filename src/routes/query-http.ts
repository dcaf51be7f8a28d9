import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import type { QueryContext } from "../query/query-service";
import type { QueryMetadata } from "../query/schemas";

/** What the query routes share: a request's query context, and how its cache status is announced. */

export function queryContext(c: Context<AppEnv>): QueryContext {
  return {
    requestId: c.var.requestId,
    startedAt: performance.now(),
    defer: (work) => c.executionCtx.waitUntil(work.catch(() => {})),
  };
}

/**
 * The `Cache-Status` header (RFC 9211) for a result's metadata, e.g. `edge-rag; hit; ttl=240;
 * detail=kv`, `edge-rag; hit; ttl=-30; detail=kv` (served stale), `edge-rag; fwd=miss`,
 * `edge-rag; fwd=bypass`.
 */
export function cacheStatusHeader(metadata: Pick<QueryMetadata, "cache" | "cache_tier" | "cache_ttl_s">): string {
  switch (metadata.cache) {
    case "hit":
    case "stale":
      return [
        "edge-rag",
        "hit",
        `ttl=${metadata.cache_ttl_s ?? 0}`,
        ...(metadata.cache_tier ? [`detail=${metadata.cache_tier}`] : []),
      ].join("; ");
    case "miss":
      return "edge-rag; fwd=miss";
    case "bypass":
      return "edge-rag; fwd=bypass";
  }
}

/** A batch's header: a hit only when every entry was; otherwise how many entries the cache answered. */
export function batchCacheStatusHeader(entries: ReadonlyArray<Pick<QueryMetadata, "cache"> | undefined>): string {
  const served = entries.filter((metadata) => metadata?.cache === "hit" || metadata?.cache === "stale").length;
  if (served === entries.length) return "edge-rag; hit";
  return `edge-rag; fwd=miss; detail="${served} of ${entries.length} from cache"`;
}
