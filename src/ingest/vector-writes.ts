import { VectorsNotVisible } from "../errors";
import type { TenantDataStub } from "../tenant/tenant-data-port";
import { describeVectorIndex } from "../vector/vector-index";

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
 * - No orphaned vectors. Vector ids whose chunks left the tenant's object are recorded in its
 *   `vector_deletions` in the same transaction, and `purgeDeletedVectors` deletes them from the
 *   index and then forgets them; a failed deleteByIds leaves them recorded for the next pass (the
 *   next commit or delete, or the sweep the object asks for). Ids about to be upserted are
 *   recorded first (`recordPendingVectors`), due only after
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
 * Deletes the tenant's recorded vector ids that are due from the index, oldest first (the object
 * leaves out ids that are back in its chunks: a document re-sent with its earlier content), then
 * has the object forget them. Returns how many were deleted. Throws when the index fails; what was
 * not deleted stays recorded for the next pass (the next commit or delete, or the sweep).
 */
export async function purgeDeletedVectors(
  store: Pick<TenantDataStub, "dueVectorDeletions" | "forgetVectorDeletions">,
  vectors: Vectorize,
  options: { limit?: number; now?: number } = {},
): Promise<number> {
  // Only what is due: a write-ahead record of an attempt under way is not.
  const due = await store.dueVectorDeletions(options.now ?? Date.now(), options.limit ?? 1000);
  let deleted = 0;
  for (const batch of chunked(due, VECTOR_WRITE_LIMITS.maxDeleteByIds)) {
    await vectors.deleteByIds(batch);
    await store.forgetVectorDeletions(batch);
    deleted += batch.length;
  }
  return deleted;
}
