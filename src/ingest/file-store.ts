import { FileStoreUnavailable } from "../errors";

/**
 * The files port: the originals of documents made from files (POST /v1/documents/files), kept so
 * that a document can be downloaded (GET /v1/documents/{id}/file) and re-indexed after a model or
 * chunking change without a new upload. One adapter: an R2 bucket (the FILES binding; R2 runs
 * locally in workerd).
 *
 * Keys: `tenants/<tenant>/documents/<document id>/<upload id>`, so that a document's originals and a
 * tenant's are each one prefix (ids cannot hold "/"). Each upload gets a key of its own, so that an
 * upload never overwrites the bytes a stored version points to; the tenant's object records which
 * key its document's accepted version has (tenant-data.ts), and the superseded one is deleted.
 *
 * Promise: `put` stores the bytes with their content type and file name before it resolves; `get`
 * returns only keys under the tenant's prefix. Failure modes: every bucket failure is
 * FileStoreUnavailable (503, retryable); a missing object is null, not an error. Latency: one R2
 * call (a list per 1,000 keys and a delete per 1,000 for the prefix deletions).
 */
export interface FileStore {
  /** Stores an upload of the document's original; resolves to its key. */
  put(tenant: string, documentId: string, file: { body: Blob; contentType: string; filename: string }): Promise<string>;
  /** The original under `key`, if it is one of the tenant's and still exists. */
  get(tenant: string, key: string): Promise<StoredFile | null>;
  /** Deletes these keys (missing ones are no error). */
  delete(keys: readonly string[]): Promise<void>;
  /** Deletes every original of the document; resolves to how many. */
  deleteDocument(tenant: string, documentId: string): Promise<number>;
  /** Deletes every original of the tenant; resolves to how many. */
  deleteTenant(tenant: string): Promise<number>;
}

export interface StoredFile {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  filename: string;
  size: number;
}

const tenantPrefix = (tenant: string) => `tenants/${tenant}/`;
const documentPrefix = (tenant: string, documentId: string) => `${tenantPrefix(tenant)}documents/${documentId}/`;

/** R2 lists and deletes at most 1,000 keys a call. */
const R2_PAGE = 1_000;

export function createR2FileStore(bucket: R2Bucket | undefined): FileStore {
  /** The bucket, or FileStoreUnavailable when this worker has none bound; each call's failure as FileStoreUnavailable. */
  const attempt = async <T>(operation: string, run: (bucket: R2Bucket) => Promise<T>): Promise<T> => {
    if (!bucket) throw new FileStoreUnavailable(operation, new Error("no FILES bucket is bound"));
    try {
      return await run(bucket);
    } catch (error) {
      throw new FileStoreUnavailable(operation, error);
    }
  };

  const deletePrefix = (operation: string, prefix: string) =>
    attempt(operation, async (files) => {
      let deleted = 0;
      for (let cursor: string | undefined; ; ) {
        const page = await files.list({ prefix, cursor, limit: R2_PAGE });
        if (page.objects.length > 0) await files.delete(page.objects.map((object) => object.key));
        deleted += page.objects.length;
        if (!page.truncated) return deleted;
        cursor = page.cursor;
      }
    });

  return {
    put: (tenant, documentId, file) =>
      attempt("upload", async (files) => {
        // Time-ordered, then random: the latest upload of a document lists last.
        const key = `${documentPrefix(tenant, documentId)}${Date.now().toString(36).padStart(9, "0")}-${crypto.randomUUID()}`;
        await files.put(key, file.body, {
          httpMetadata: { contentType: file.contentType },
          customMetadata: { filename: file.filename },
        });
        return key;
      }),

    get: (tenant, key) =>
      attempt("download", async (files) => {
        // Defence in depth: a key is only ever read under its own tenant's prefix.
        if (!key.startsWith(tenantPrefix(tenant))) return null;
        const object = await files.get(key);
        if (!object) return null;
        return {
          body: object.body,
          contentType: object.httpMetadata?.contentType ?? "application/octet-stream",
          filename: object.customMetadata?.filename ?? key.slice(key.lastIndexOf("/") + 1),
          size: object.size,
        };
      }),

    delete: (keys) =>
      attempt("deletion", async (files) => {
        for (let i = 0; i < keys.length; i += R2_PAGE) await files.delete(keys.slice(i, i + R2_PAGE));
      }),

    deleteDocument: (tenant, documentId) => deletePrefix("deletion", documentPrefix(tenant, documentId)),
    deleteTenant: (tenant) => deletePrefix("deletion", tenantPrefix(tenant)),
  };
}
