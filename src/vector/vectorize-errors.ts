/**
 * Errors shaped exactly like the ones the Vectorize binding throws (workerd
 * src/cloudflare/internal/vectorize-api.ts): a plain `Error` whose message is
 * `<OPERATION>_ERROR (code = <n>): <message>` — or without the code part when the service sent
 * none — and whose `cause` is an `Error(<message>)`. Callers can therefore match on the same text
 * locally and in production.
 */
export type VectorizeOperation = "INDEX_GET" | "VECTOR_QUERY" | "VECTOR_INSERT" | "VECTOR_UPSERT" | "VECTOR_GET" | "VECTOR_DELETE";

/** Builds a Vectorize-shaped error. `code` is omitted when production's number is unknown. */
export function vectorizeError(operation: VectorizeOperation, message: string, code?: number): Error {
  const prefix = code === undefined ? `${operation}_ERROR` : `${operation}_ERROR (code = ${code})`;
  return new Error(`${prefix}: ${message}`, { cause: new Error(message) });
}

/** Prefix of every error the local index raises that has no Vectorize counterpart (capacity, config). */
export const LOCAL_VECTORIZE_ERROR = "LOCAL_VECTORIZE_ERROR";

/** An error only the local index can raise (its memory ceiling, an index config that changed). */
export function localVectorizeError(message: string): Error {
  return new Error(`${LOCAL_VECTORIZE_ERROR}: ${message}`);
}
