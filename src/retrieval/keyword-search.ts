import { createSqlParams, type FilterPlan, filterSql } from "./filters";

/**
 * BM25 over the tenant's chunks with D1's FTS5 index, with the whole filter applied in the same
 * statement (so filtered-out chunks never take a candidate slot).
 *
 * Promise: the ids of at most `limit` chunks of `tenant` that match `match` and the filter, best
 * BM25 first. `match` must come from toFtsMatchExpression (never raw user text). D1 errors
 * propagate: without D1 the index cannot answer at all. Latency: one D1 query.
 */
export async function keywordSearch(
  db: D1Database,
  request: { tenant: string; match: string; plan: FilterPlan; limit: number },
): Promise<string[]> {
  const params = createSqlParams();
  const match = params.add(request.match);
  const tenant = params.add(request.tenant);
  const where = filterSql(request.plan, params);
  const limit = params.add(request.limit);
  // bm25() is lower-is-better; the FTS table is scanned through MATCH, then joined per hit.
  const sql =
    "SELECT c.id AS id FROM chunks_fts " +
    "JOIN chunks c ON c.seq = chunks_fts.rowid " +
    "JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id " +
    `WHERE chunks_fts MATCH ${match} AND c.tenant = ${tenant} AND ${where} ` +
    `ORDER BY bm25(chunks_fts) LIMIT ${limit}`;
  const { results } = await db
    .prepare(sql)
    .bind(...params.values)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}
