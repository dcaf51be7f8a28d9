/**
 * Where a tenant's documents live when its data is split over N objects (shards; `tenants.shards`,
 * default 1, D1 migration 0012): each document in the shard a stable hash of its id names. Shard
 * 0's object is named by the tenant alone, so a one-shard tenant's object is the one it always had
 * (and the one `migrateTenantData` fills), and the others are `<tenant>#<shard>` (tenant names
 * cannot hold `#`: auth/principal.ts).
 *
 * What one shard holds at most is one Durable Object's SQLite storage (10 GB on Cloudflare), so a
 * tenant holds N times that. The hash is taken modulo N, so changing N would move documents
 * between shards, and no resharding command exists yet: N is set before the tenant's first
 * document, and an object refuses writes under another N once it holds documents (tenant-data.ts).
 */
export const MAX_SHARDS = 64;

/** The shard (0 … shards − 1) that holds a document: FNV-1a (32 bits) of its id, modulo `shards`. */
export function shardOf(documentId: string, shards: number): number {
  if (shards === 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(documentId)) hash = Math.imul(hash ^ byte, 0x01000193);
  return (hash >>> 0) % shards;
}

/** The name of a shard's object: the tenant itself for shard 0, `<tenant>#<shard>` for the others. */
export const shardObjectName = (tenant: string, shard: number) => (shard === 0 ? tenant : `${tenant}#${shard}`);

/** The tenant and shard an object's name stands for (the inverse of shardObjectName). */
export function parseShardObjectName(name: string): { tenant: string; shard: number } {
  const at = name.lastIndexOf("#");
  return at < 0 ? { tenant: name, shard: 0 } : { tenant: name.slice(0, at), shard: Number(name.slice(at + 1)) };
}

/**
 * A tenant-wide limit as each of its N shards enforces it: its share, rounded up. A shard checks
 * its own counters in the same transaction as its writes (no shard waits on another), so a
 * sharded tenant reaches a quota when one shard reaches its share; ids spread evenly by the hash
 * (within a few per cent at thousands of documents a shard), so that is close to the whole.
 */
export const shardShare = (limit: number, shards: number) => (shards === 1 ? limit : Math.ceil(limit / shards));
