import type { TenantChunk } from "../tenant/tenant-data";
import type { TenantDataPlane } from "../tenant/tenant-data-port";
import type { FilterPlan } from "./filters";

/** A candidate chunk with its text and its document's metadata. */
export type HydratedChunk = TenantChunk;

/**
 * Loads the text and document metadata of candidate chunks in one call to the tenant's object.
 *
 * Promise: only chunks of the tenant that still exist and satisfy the whole filter come back, so a
 * vector id from a stale index entry, another namespace or a filter Vectorize could not apply is
 * dropped here; order is not meaningful (callers rank by id). Latency: one call to the object.
 */
export async function hydrateChunks(
  store: Pick<TenantDataPlane, "keywordSearch" | "hydrate">,
  request: { ids: readonly string[]; plan: FilterPlan },
): Promise<Map<string, HydratedChunk>> {
  if (request.ids.length === 0) return new Map();
  return new Map((await store.hydrate(request)).map((chunk) => [chunk.id, chunk]));
}
