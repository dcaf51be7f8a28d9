import { createSqlParams, type FilterPlan, filterSql, type SqlValue } from "./filters";

export interface HydratedChunk {
  id: string;
  document_id: string;
  collection: string;
  chunk_index: number;
  text: string;
  /** The document's metadata (a flat JSON object). */
  metadata: Record<string, unknown>;
}

/**
 * Loads the text and document metadata of candidate chunks in one D1 query.
 *
 * Promise: only chunks of `tenant` that still exist and satisfy the whole filter come back, so a
 * vector id from a stale index entry, another namespace or a filter Vectorize could not apply is
 * dropped here; order is not meaningful (callers rank by id). Latency: one D1 query.
 */
export async function hydrateChunks(
  db: D1Database,
  request: { tenant: string; ids: readonly string[]; plan: FilterPlan },
): Promise<Map<string, HydratedChunk>> {
  const found = new Map<string, HydratedChunk>();
  if (request.ids.length === 0) return found;
  const { sql, params } = hydrationQuery(request);
  const { results } = await db
    .prepare(sql)
    .bind(...params)
    .all<Omit<HydratedChunk, "metadata"> & { metadata: string }>();
  for (const row of results) found.set(row.id, { ...row, metadata: parseMetadata(row.metadata) });
  return found;
}

/**
 * Whether every one of `ids` is a chunk the tenant still has. A deleted document's chunks are
 * gone, and so are a replaced version's (chunk ids are unique per version): an answer kept from
 * before citing such a chunk must not be served again.
 */
export async function chunksStillIndexed(db: D1Database, tenant: string, ids: readonly string[]): Promise<boolean> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return true;
  const row = await db
    .prepare("SELECT COUNT(*) AS n FROM chunks WHERE +tenant = ?1 AND id IN (SELECT value FROM json_each(?2))")
    .bind(tenant, JSON.stringify(unique))
    .first<{ n: number }>();
  return row?.n === unique.length;
}

/** The hydration statement (exported so a test can check its query plan). */
export function hydrationQuery(request: { tenant: string; ids: readonly string[]; plan: FilterPlan }): { sql: string; params: SqlValue[] } {
  const params = createSqlParams();
  const tenant = params.add(request.tenant);
  // One JSON parameter for any number of ids: D1 allows at most 100 bound parameters.
  const ids = params.add(JSON.stringify(request.ids));
  const where = filterSql(request.plan, params);
  const sql =
    "SELECT c.id, c.document_id, c.collection, c.chunk_index, c.text, d.metadata " +
    "FROM chunks c JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id " +
    // `+c.tenant`: keeps SQLite from scanning the tenant's whole chunks_by_document range; the
    // lookups must go through the unique index on chunks.id, one per candidate.
    `WHERE +c.tenant = ${tenant} AND c.id IN (SELECT value FROM json_each(${ids})) AND ${where}`;
  return { sql, params: params.values };
}

function parseMetadata(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
