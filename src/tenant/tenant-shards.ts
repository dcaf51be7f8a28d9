import { LOCATION_HINTS } from "./placement";
import type { KeywordHit, TenantChunk, TenantData } from "./tenant-data";

/**
 * Where a tenant's data lives: N TenantData objects (shards, default 1), each document in the one
 * a stable hash of its id names, all of them placed near the tenant's users by an optional
 * location hint (issue 23). Shard 0's object is named by the tenant alone, so a one-shard tenant's
 * object is the one `migrateTenantData` fills, and adding shards never moves shard 0.
 *
 * What one shard holds at most is one Durable Object's SQLite storage (10 GB on Cloudflare): a
 * tenant's limit is N times that. Changing N moves documents between shards (the hash is taken
 * modulo N), and no resharding command exists yet: N is set when a tenant is created.
 */
export interface TenantPlacement {
  tenant: string;
  /** 1 … MAX_SHARDS. */
  shards: number;
  /** A Durable Object location hint (LOCATION_HINTS), or null to place by first access. */
  region: string | null;
}

export const MAX_SHARDS = 64;

/** The shard (0 … shards − 1) that holds a document: FNV-1a (32 bits) of its id, modulo `shards`. */
export function shardOf(documentId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(documentId)) hash = Math.imul(hash ^ byte, 0x01000193);
  return (hash >>> 0) % shards;
}

/** The name of a shard's object: the tenant itself for shard 0, `<tenant>#<shard>` for the others. */
export const shardObjectName = (tenant: string, shard: number) => (shard === 0 ? tenant : `${tenant}#${shard}`);

/** Throws a RangeError naming what is wrong with a placement (a configuration error, not a request's). */
export function checkPlacement(placement: TenantPlacement): void {
  if (!Number.isInteger(placement.shards) || placement.shards < 1 || placement.shards > MAX_SHARDS)
    throw new RangeError(`a tenant has 1 to ${MAX_SHARDS} shards, not ${placement.shards}`);
  if (placement.region !== null && !(LOCATION_HINTS as readonly string[]).includes(placement.region))
    throw new RangeError(`region must be one of ${LOCATION_HINTS.join(", ")}, not ${placement.region}`);
}

/** Every shard's object, in shard order, with the tenant's location hint. */
export function shardObjects(
  namespace: DurableObjectNamespace<TenantData>,
  placement: TenantPlacement,
): Array<DurableObjectStub<TenantData>> {
  checkPlacement(placement);
  const options = placement.region ? { locationHint: placement.region as DurableObjectLocationHint } : undefined;
  return Array.from({ length: placement.shards }, (_, shard) =>
    namespace.get(namespace.idFromName(shardObjectName(placement.tenant, shard)), options),
  );
}

/** The object that holds `documentId`. */
export function objectForDocument(
  namespace: DurableObjectNamespace<TenantData>,
  placement: TenantPlacement,
  documentId: string,
): DurableObjectStub<TenantData> {
  return shardObjects(namespace, placement)[shardOf(documentId, placement.shards)]!;
}

/**
 * Keyword search over every shard in parallel, merged by BM25 score (each shard scores against
 * its own statistics; documents are spread by hash, so the shards' statistics estimate the same
 * tenant-wide ones, as a search engine's per-shard scoring does), best first, at most `limit`.
 * The merged list then enters hybrid fusion exactly as one object's would. Latency: the slowest
 * shard's call.
 */
export async function shardedKeywordSearch(
  objects: ReadonlyArray<DurableObjectStub<TenantData>>,
  request: Parameters<TenantData["keywordSearch"]>[0],
): Promise<{ hits: KeywordHit[]; chunks: TenantChunk[] }> {
  const answers = await Promise.all(objects.map((object) => object.keywordSearch(request)));
  const hits = answers
    .flatMap((answer) => answer.hits)
    .sort((a, b) => b.bm25 - a.bm25 || (a.id < b.id ? -1 : 1))
    .slice(0, request.limit);
  const kept = new Set(hits.map((hit) => hit.id));
  return { hits, chunks: answers.flatMap((answer) => answer.chunks).filter((chunk) => kept.has(chunk.id)) };
}
