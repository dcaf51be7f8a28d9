import { VectorsNotVisible } from "../errors";
import { describeVectorIndex } from "../vector/vector-index";
import { groupRowsForJson } from "./document-store";

/**
 * Writes to the vector index (the `Vectorize` port) within its Workers limits, and the two
 * guarantees ingestion builds on it:
 *
 * - Read-your-writes. Vectorize applies mutations asynchronously: upsert() resolves with a
 *   `mutationId` once the change is accepted, and it becomes visible to query()/getByIds() only
 *   when the index has processed it (`describe().processedUpToMutation`), typically seconds later.
 *   `waitUntilVisible` returns only once every upsert is confirmed processed — the last
 *   mutation is the index's `processedUpToMutation` (mutations are processed in order), or a
 *   probe id of every upsert call comes back from getByIds — and otherwise throws
 *   VECTORS_NOT_VISIBLE after a bounded wait, so that the queue retries the message. Ingestion
 *   marks a document indexed (and a job done) only after this returns.
 * - No orphaned vectors. Vector ids whose chunks left D1 are recorded in `vector_deletions` in the
 *   same D1 batch, and `purgeDeletedVectors` deletes them from the index and then forgets them;
 *   a failed deleteByIds leaves them recorded for the next pass (consumer or scheduled sweep).
 *   Ids about to be upserted are recorded first (`recordPendingVectorsStatements`), due only after
 *   PENDING_VECTOR_GRACE_MS: the commit that gives them chunks forgets them, and if none ever does
 *   (the attempt died, and its document was deleted or replaced before a retry) they are purged.
 *   A row's `created_at` is when it falls due.
 */

/** Vectorize from Workers: ≤ 1000 vectors per upsert, ≤ 20 ids per getByIds, ≤ 100 per deleteByIds (observed). */
export const VECTOR_WRITE_LIMITS = { maxUpsert: 1000, maxGetByIds: 20, maxDeleteByIds: 100 } as const;

export interface UpsertReceipt {
  mutationId: string;
  /** One id written by that mutation, to check its visibility. */
  probeId: string;
}

const chunked = <T>(items: T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/**
 * How long a write-ahead record waits before the purge may act on it: longer than any attempt takes
 * from its upsert to its commit (a queue consumer runs at most 15 minutes), so the purge never
 * removes the vectors of an attempt still under way. A retry records its ids again, anew.
 */
export const PENDING_VECTOR_GRACE_MS = 15 * 60 * 1000;

/** Records `ids` as due for deletion after PENDING_VECTOR_GRACE_MS, before they are upserted (see the header). */
export function recordPendingVectorsStatements(db: D1Database, tenant: string, ids: string[], now: number): D1PreparedStatement[] {
  const { groups, oversized } = groupRowsForJson(ids);
  return [...groups, ...oversized.map((id) => [id])].map((group) =>
    db
      .prepare(
        `INSERT INTO vector_deletions (tenant, id, created_at) SELECT ?1, value, ?2 FROM json_each(?3) WHERE true
         ON CONFLICT (tenant, id) DO UPDATE SET created_at = excluded.created_at`,
      )
      .bind(tenant, now + PENDING_VECTOR_GRACE_MS, JSON.stringify(group)),
  );
}

export async function upsertVectors(vectors: Vectorize, items: VectorizeVector[]): Promise<UpsertReceipt[]> {
  const receipts: UpsertReceipt[] = [];
  for (const batch of chunked(items, VECTOR_WRITE_LIMITS.maxUpsert)) {
    const { mutationId } = await vectors.upsert(batch);
    receipts.push({ mutationId, probeId: batch[batch.length - 1]!.id });
  }
  return receipts;
}

export interface VisibilityOptions {
  /** Longest wait before giving up (the message is then retried). */
  timeoutMs: number;
  /** First pause between checks; doubles up to 2 s. */
  pollMs?: number;
}

export const DEFAULT_VISIBILITY: Required<VisibilityOptions> = { timeoutMs: 20_000, pollMs: 250 };

export async function waitUntilVisible(
  vectors: Vectorize,
  receipts: UpsertReceipt[],
  options: VisibilityOptions = DEFAULT_VISIBILITY,
): Promise<void> {
  if (receipts.length === 0) return;
  const deadline = Date.now() + options.timeoutMs;
  const last = receipts[receipts.length - 1]!.mutationId;
  let pending = receipts.map((receipt) => receipt.probeId);
  let pause = options.pollMs ?? DEFAULT_VISIBILITY.pollMs;
  for (;;) {
    if ((await describeVectorIndex(vectors)).processedUpToMutation === last) return;
    const found = new Set<string>();
    for (const ids of chunked(pending, VECTOR_WRITE_LIMITS.maxGetByIds)) {
      for (const vector of await vectors.getByIds(ids)) found.add(vector.id);
    }
    pending = pending.filter((id) => !found.has(id));
    if (pending.length === 0) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new VectorsNotVisible(`the vector index had not applied the upserted vectors after ${options.timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, remaining)));
    pause = Math.min(pause * 2, 2_000);
  }
}

/**
 * Deletes recorded vector ids from the index (those of one tenant, or the oldest of any tenant),
 * skipping ids that are back in `chunks` (a document re-sent with its earlier content). Returns
 * how many were deleted. Throws when the index fails; what was not deleted stays recorded.
 */
export async function purgeDeletedVectors(
  db: D1Database,
  vectors: Vectorize,
  options: { tenant?: string; limit?: number; now?: number } = {},
): Promise<number> {
  const limit = options.limit ?? 1000;
  // Only what is due: a write-ahead record of an attempt under way is not.
  const now = options.now ?? Date.now();
  const statement = options.tenant
    ? db
        .prepare("SELECT tenant, id FROM vector_deletions WHERE tenant = ?1 AND created_at <= ?3 ORDER BY created_at LIMIT ?2")
        .bind(options.tenant, limit, now)
    : db.prepare("SELECT tenant, id FROM vector_deletions WHERE created_at <= ?2 ORDER BY created_at LIMIT ?1").bind(limit, now);
  const { results } = await statement.all<{ tenant: string; id: string }>();
  if (results.length === 0) return 0;

  const live = new Set(
    (
      await db
        .prepare("SELECT id FROM chunks WHERE id IN (SELECT value FROM json_each(?1))")
        .bind(JSON.stringify(results.map((row) => row.id)))
        .all<{ id: string }>()
    ).results.map((row) => row.id),
  );
  const doomed = results.filter((row) => !live.has(row.id));
  let deleted = 0;
  for (const batch of chunked(doomed, VECTOR_WRITE_LIMITS.maxDeleteByIds)) {
    await vectors.deleteByIds(batch.map((row) => row.id));
    deleted += batch.length;
  }
  // Forget what was deleted, and what is live again (the newer chunks own those ids now).
  const forget = JSON.stringify(results.map((row) => [row.tenant, row.id]));
  await db
    .prepare(
      `DELETE FROM vector_deletions WHERE EXISTS (SELECT 1 FROM json_each(?1) j
         WHERE json_extract(j.value, '$[0]') = vector_deletions.tenant AND json_extract(j.value, '$[1]') = vector_deletions.id)`,
    )
    .bind(forget)
    .run();
  return deleted;
}
