import { FileStoreUnavailable } from "../errors";

/**
 * The sources port: the objects a team puts in the operator's SOURCES bucket for bucket sync
 * (bucket-sync.ts). One adapter: an R2 bucket (the SOURCES binding; R2 runs locally in workerd).
 * A Worker reaches only the buckets bound when it is deployed, so tenants share one bucket, each
 * confined to its own area: `tenants/<tenant>/sources/`, as the files bucket keeps
 * `tenants/<tenant>/documents/` (file-store.ts). A tenant's attached prefix is a path inside that
 * area (`SyncPrefixSchema`: no `..`, no `.`, no empty segment), so no prefix a tenant can name
 * reaches another tenant's keys, and every key this port returns is relative to the prefix.
 *
 * Promise: `list` pages through the keys under the prefix in R2's order (lexicographic), with each
 * object's ETag and size and an opaque cursor to resume from; `get` reads one object by its
 * relative key. Failure modes: every bucket failure is FileStoreUnavailable (503, retryable); a
 * missing object is null (deleted since it was listed). Latency: one R2 call each.
 */
export interface SourceBucket {
  /** A page of the objects under the tenant's prefix, after `cursor`, at most `limit` (≤ 1,000). */
  list(tenant: string, prefix: string, options: { cursor?: string; limit: number }): Promise<SourcePage>;
  /** The object `key` (relative to the prefix), or null when it no longer exists. */
  get(tenant: string, prefix: string, key: string): Promise<SourceObjectBody | null>;
}

export interface SourceObject {
  /** The key relative to the tenant's prefix, e.g. `guides/install.md`. */
  key: string;
  etag: string;
  size: number;
}

export interface SourcePage {
  objects: SourceObject[];
  /** Where the next page starts; null when this is the last page. */
  cursor: string | null;
}

export interface SourceObjectBody extends SourceObject {
  body: Blob;
  /** Its Content-Type as stored, or application/octet-stream (the parser then reads the key's extension). */
  contentType: string;
}

/** The tenant's area of the SOURCES bucket, and a prefix inside it. */
export const sourcesArea = (tenant: string) => `tenants/${tenant}/sources/`;
const fullPrefix = (tenant: string, prefix: string) => `${sourcesArea(tenant)}${prefix}`;

/** R2 lists at most 1,000 keys a call. */
export const MAX_SOURCE_PAGE = 1_000;

export function createR2SourceBucket(bucket: R2Bucket | undefined): SourceBucket {
  const attempt = async <T>(operation: string, run: (bucket: R2Bucket) => Promise<T>): Promise<T> => {
    if (!bucket) throw new FileStoreUnavailable(operation, new Error("no SOURCES bucket is bound"));
    try {
      return await run(bucket);
    } catch (error) {
      throw new FileStoreUnavailable(operation, error);
    }
  };

  return {
    list: (tenant, prefix, { cursor, limit }) =>
      attempt("source listing", async (sources) => {
        const under = fullPrefix(tenant, prefix);
        const page = await sources.list({ prefix: under, cursor, limit: Math.min(limit, MAX_SOURCE_PAGE) });
        return {
          objects: page.objects.map((object) => ({ key: object.key.slice(under.length), etag: object.etag, size: object.size })),
          cursor: page.truncated ? page.cursor : null,
        };
      }),

    get: (tenant, prefix, key) =>
      attempt("source read", async (sources) => {
        const fullKey = `${fullPrefix(tenant, prefix)}${key}`;
        // Defence in depth: a relative key never climbs out of the prefix.
        if (key.split("/").some((segment) => segment === ".." || segment === ".")) return null;
        const object = await sources.get(fullKey);
        if (!object) return null;
        return {
          key,
          etag: object.etag,
          size: object.size,
          body: await object.blob(),
          contentType: object.httpMetadata?.contentType ?? "application/octet-stream",
        };
      }),
  };
}
