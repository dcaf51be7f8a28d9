import type { KeywordHit, TenantChunk } from "../tenant/tenant-data";
import type { TenantDataPlane } from "../tenant/tenant-data-port";
import type { FilterPlan } from "./filters";

export type { KeywordHit } from "../tenant/tenant-data";

/**
 * BM25 over the tenant's own FTS5 index (in its object: its statistics are its chunks' only), with
 * the whole filter applied in the same statement (so filtered-out chunks never take a candidate
 * slot), and the hits' chunks returned with them.
 *
 * Promise: at most `limit` chunks of the tenant that match `match` and the filter, best BM25 first.
 * `match` must come from toFtsMatchExpression (never raw user text). The object's failures
 * propagate (StoreUnavailable): without it the index cannot answer at all. Latency: one call to
 * each of the tenant's objects (its shards), in parallel.
 */
export async function keywordSearch(
  store: Pick<TenantDataPlane, "keywordSearch" | "hydrate">,
  request: { match: string; plan: FilterPlan; limit: number },
): Promise<{ hits: KeywordHit[]; chunks: Map<string, TenantChunk> }> {
  const { hits, chunks } = await store.keywordSearch({ ...request, hydrate: true });
  return { hits, chunks: new Map(chunks.map((chunk) => [chunk.id, chunk])) };
}
