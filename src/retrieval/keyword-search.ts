import { createSqlParams, type FilterPlan, filterSql } from "./filters";
import { ensureKeywordIndex, isMissingTable, keywordIndexName } from "./keyword-index";

/**
 * How much a term in the document's title counts against one in the chunk's text (FTS5 column
 * weights; a title term also counts toward the chunk's length). 1 was the best of 0.5, 1, 2 and 3
 * on SciFact's tuning slice (`npm run eval:keyword`, README "Evaluation").
 */
export const TITLE_WEIGHT = 1;

export interface KeywordHit {
  id: string;
  /** The chunk's BM25 score against the tenant's own statistics (FTS5 `-bm25()`: higher is better). */
  bm25: number;
}

/**
 * BM25 over the tenant's own FTS5 index (keyword-index.ts), with the whole filter applied in the
 * same statement (so filtered-out chunks never take a candidate slot).
 *
 * Promise: at most `limit` chunks of `tenant` that match `match` and the filter, best BM25 first,
 * ranked by statistics of the tenant's chunks only. `match` must come from toFtsMatchExpression
 * (never raw user text). D1 errors propagate: without D1 the index cannot answer at all. Latency:
 * one D1 query; once per tenant whose chunks predate its index, one more batch that builds it.
 */
export async function keywordSearchScored(
  db: D1Database,
  request: { tenant: string; match: string; plan: FilterPlan; limit: number },
): Promise<KeywordHit[]> {
  const name = await keywordIndexName(request.tenant);
  try {
    return await run(db, name, request);
  } catch (error) {
    if (!isMissingTable(error)) throw error;
    await ensureKeywordIndex(db, request.tenant);
    return run(db, name, request);
  }
}

/** keywordSearchScored's ids only. */
export async function keywordSearch(
  db: D1Database,
  request: { tenant: string; match: string; plan: FilterPlan; limit: number },
): Promise<string[]> {
  return (await keywordSearchScored(db, request)).map((hit) => hit.id);
}

async function run(
  db: D1Database,
  name: string,
  request: { tenant: string; match: string; plan: FilterPlan; limit: number },
): Promise<KeywordHit[]> {
  const params = createSqlParams();
  const match = params.add(request.match);
  const tenant = params.add(request.tenant);
  const where = filterSql(request.plan, params);
  const limit = params.add(request.limit);
  // bm25() is lower-is-better; the tenant's FTS table is scanned through MATCH, then joined per
  // hit. `c.tenant` is checked again: the index holds the tenant's rows only, but a join never trusts it.
  const sql =
    `SELECT c.id AS id, -bm25(${name}, 1, ${TITLE_WEIGHT}) AS bm25 FROM ${name} ` +
    `JOIN chunks c ON c.seq = ${name}.rowid ` +
    "JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id " +
    `WHERE ${name} MATCH ${match} AND c.tenant = ${tenant} AND ${where} ` +
    `ORDER BY bm25(${name}, 1, ${TITLE_WEIGHT}), c.seq LIMIT ${limit}`;
  const { results } = await db
    .prepare(sql)
    .bind(...params.values)
    .all<KeywordHit>();
  return results.map((row) => ({ id: row.id, bm25: row.bm25 }));
}
