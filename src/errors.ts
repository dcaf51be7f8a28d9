import type { z } from "@hono/zod-openapi";
import type { problemSchema } from "./schemas";
import type { FileRefusalCode } from "./shared/origin-contract";

/**
 * The worker's errors. Every code a client can see is in ERROR_CODES (status and title), so the
 * contract is one table; failures that code branches on are classes with a static `code` (jose's
 * `errors.ts` pattern), so a caller asks `instanceof OriginFailure`, never a message's prefix.
 * Anything thrown that is not an ApiError becomes a bare 500 INTERNAL_ERROR (see `toApiError` in
 * app-shell.ts), so no stack, SQL or upstream body ever reaches a client.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: "Request validation failed" },
  MALFORMED_REQUEST: { status: 400, title: "Bad request" },
  JSON_TOO_DEEP: { status: 400, title: "Bad request" },
  AMBIGUOUS_CREDENTIALS: { status: 400, title: "Bad request" },
  STREAM_NOT_SUPPORTED: { status: 400, title: "Bad request" },
  CREDENTIALS_MISSING: { status: 401, title: "Unauthorized" },
  CREDENTIALS_MALFORMED: { status: 401, title: "Unauthorized" },
  CREDENTIAL_NOT_ACCEPTED: { status: 401, title: "Unauthorized" },
  INVALID_CREDENTIALS: { status: 401, title: "Unauthorized" },
  API_KEY_INVALID: { status: 401, title: "Unauthorized" },
  API_KEY_EXPIRED: { status: 401, title: "Unauthorized" },
  API_KEY_REVOKED: { status: 401, title: "Unauthorized" },
  TOKEN_MALFORMED: { status: 401, title: "Unauthorized" },
  TOKEN_EXPIRED: { status: 401, title: "Unauthorized" },
  TOKEN_NOT_YET_VALID: { status: 401, title: "Unauthorized" },
  TOKEN_CLAIM_INVALID: { status: 401, title: "Unauthorized" },
  TOKEN_ALG_NOT_ALLOWED: { status: 401, title: "Unauthorized" },
  TOKEN_SIGNATURE_INVALID: { status: 401, title: "Unauthorized" },
  TOKEN_KEY_UNKNOWN: { status: 401, title: "Unauthorized" },
  TOKEN_REVOKED: { status: 401, title: "Unauthorized" },
  FORBIDDEN: { status: 403, title: "Forbidden" },
  QUOTA_EXCEEDED: { status: 403, title: "Quota exceeded" },
  NOT_FOUND: { status: 404, title: "Not found" },
  MODEL_NOT_FOUND: { status: 404, title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  /** Hono's own 4xx other than 400/413/415 (keeps the status Hono chose). */
  REQUEST_REJECTED: { status: 400, title: "Bad request" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "Payload too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  RATE_LIMITED: { status: 429, title: "Too many requests" },
  INTERNAL_ERROR: { status: 500, title: "Internal server error" },
  CONFIG_INVALID: { status: 500, title: "Service misconfigured" },
  ORIGIN_REJECTED: { status: 502, title: "Bad gateway" },
  ORIGIN_BAD_RESPONSE: { status: 502, title: "Bad gateway" },
  ORIGIN_STREAM_FAILED: { status: 502, title: "Bad gateway" },
  ORIGIN_UNAVAILABLE: { status: 503, title: "Service unavailable" },
  IDP_UNAVAILABLE: { status: 503, title: "Service unavailable" },
  RATE_LIMITER_UNAVAILABLE: { status: 503, title: "Service unavailable" },
  STORE_UNAVAILABLE: { status: 503, title: "Service unavailable" },
  INGEST_QUEUE_UNAVAILABLE: { status: 503, title: "Service unavailable" },
  VECTOR_INDEX_ERROR: { status: 503, title: "Service unavailable" },
  VECTORS_NOT_VISIBLE: { status: 503, title: "Service unavailable" },
  FILE_STORE_UNAVAILABLE: { status: 503, title: "Service unavailable" },
  ORIGIN_TIMEOUT: { status: 504, title: "Gateway timeout" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ApiErrorOptions {
  /** Response headers the problem carries (Retry-After, WWW-Authenticate, RateLimit-*). */
  headers?: Record<string, string>;
  /** Extra members of the problem object (RFC 9457 extensions), e.g. per-field errors. */
  extensions?: Record<string, unknown>;
  /** Overrides the table's status (only Hono's pass-through 4xx needs it). */
  status?: number;
  /** For logs only; never rendered. */
  cause?: unknown;
}

/** The one error type: rendered as application/problem+json (RFC 9457) by `problemResponse`. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    options: ApiErrorOptions = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.title = ERROR_CODES[code].title;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

const retryAfter = (seconds: number) => ({ "retry-after": String(seconds) });

// ── Failures code branches on ─────────────────────────────────────────────────────────────────

/** No origin could do it: callers degrade (keyword-only retrieval, edge answer) or retry (ingest). */
export abstract class OriginFailure extends ApiError {
  static readonly code: "ORIGIN_UNAVAILABLE" | "ORIGIN_TIMEOUT" | "ORIGIN_REJECTED" | "ORIGIN_BAD_RESPONSE" | "ORIGIN_STREAM_FAILED";
  constructor(detail: string) {
    const { code } = new.target;
    super(code, detail, code === "ORIGIN_UNAVAILABLE" ? { headers: retryAfter(5) } : {});
  }
}

/** Every origin is down, failing or circuit-open. */
export class OriginUnavailable extends OriginFailure {
  static override readonly code = "ORIGIN_UNAVAILABLE";
}

/** The origin did not answer (or went silent mid-stream) within its timeout. */
export class OriginTimeout extends OriginFailure {
  static override readonly code = "ORIGIN_TIMEOUT";
}

/** The origin answered that the request itself is wrong (a 4xx): not failed over, not retried as is. */
export class OriginRejected extends OriginFailure {
  static override readonly code = "ORIGIN_REJECTED";
}

/** The origin's answer could not be used (wrong shape, wrong count, empty). */
export class OriginBadResponse extends OriginFailure {
  static override readonly code = "ORIGIN_BAD_RESPONSE";
}

/** The origin's answer stream broke off or reported an error after it started. */
export class OriginStreamFailed extends OriginFailure {
  static override readonly code = "ORIGIN_STREAM_FAILED";
}

/** D1 failed (outage, overload, or a statement it refused): nothing that needs it can answer. */
export class StoreUnavailable extends ApiError {
  static readonly code = "STORE_UNAVAILABLE";
  constructor(cause?: unknown) {
    super(StoreUnavailable.code, "the document store is unavailable; retry shortly", { headers: retryAfter(5), cause });
  }
}

/** The vector index refused or failed a call (Vectorize's `VECTOR_<OP>_ERROR`, or the local index). */
export class VectorIndexError extends ApiError {
  static readonly code = "VECTOR_INDEX_ERROR";
  constructor(operation: string, cause?: unknown) {
    super(VectorIndexError.code, `the vector index failed the ${operation}`, { cause });
  }
}

/** Upserted vectors were not yet visible to queries within the wait: retry later. */
export class VectorsNotVisible extends ApiError {
  static readonly code = "VECTORS_NOT_VISIBLE";
  constructor(detail: string) {
    super(VectorsNotVisible.code, detail);
  }
}

/**
 * The origin refused a file itself (corrupt, encrypted, not the type it claims, …): that file's
 * document fails with `reason: detail` in its job; the request and its other files go on. Never
 * rendered as a request's problem (ORIGIN_REJECTED if it were).
 */
export class FileRefused extends ApiError {
  static readonly code = "ORIGIN_REJECTED";
  constructor(
    readonly reason: FileRefusalCode,
    detail: string,
  ) {
    super(FileRefused.code, detail);
  }

  /** What the document's job row says. */
  get jobError(): string {
    return `${this.reason}: ${this.detail}`;
  }
}

/** The files bucket (R2) failed a call: the upload, download or deletion can be retried. */
export class FileStoreUnavailable extends ApiError {
  static readonly code = "FILE_STORE_UNAVAILABLE";
  constructor(operation: string, cause?: unknown) {
    super(FileStoreUnavailable.code, `the file store failed the ${operation}; retry shortly`, { headers: retryAfter(5), cause });
  }
}

/** What a client may read about a failure (job errors, bucket sync failures): ApiError codes and details are written for clients; nothing else is. */
export function clientSafeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.detail}`;
  return "INTERNAL_ERROR: an unexpected error occurred while indexing";
}

// ── Problem rendering ─────────────────────────────────────────────────────────────────────────

/** A problem object: the schema's members plus any RFC 9457 extensions (e.g. `errors`, `job_id`). */
export type Problem = z.infer<ReturnType<typeof problemSchema>> & { [extension: string]: unknown };

export function toProblem(error: ApiError, requestId: string): Problem {
  return {
    ...error.extensions,
    type: `urn:edge-rag:problem:${error.code.toLowerCase().replaceAll("_", "-")}`,
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    request_id: requestId,
  };
}

export function problemResponse(error: ApiError, requestId: string): Response {
  return new Response(JSON.stringify(toProblem(error, requestId)), {
    status: error.status,
    headers: { ...error.headers, "content-type": "application/problem+json", "x-request-id": requestId },
  });
}

// ── Constructors for the common client errors ─────────────────────────────────────────────────

export interface FieldError {
  /** Dotted path of the offending field ("" for the body itself). */
  path: string;
  message: string;
}

/** One 400 listing every offending field, in `errors` and summarised in `detail`. */
export const validationFailed = (errors: FieldError[]) =>
  new ApiError("VALIDATION_FAILED", errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; "), {
    extensions: { errors },
  });

/** Zod issues as field errors, optionally under a prefix (e.g. the index of a batch entry). */
export const fieldErrors = (
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix: ReadonlyArray<PropertyKey> = [],
): FieldError[] => issues.map((issue) => ({ path: [...prefix, ...issue.path].map(String).join("."), message: issue.message }));

type UnauthorizedCode = { [C in ErrorCode]: (typeof ERROR_CODES)[C]["status"] extends 401 ? C : never }[ErrorCode];

export const unauthorized = (code: UnauthorizedCode, detail: string, error: "invalid_request" | "invalid_token" = "invalid_token") =>
  new ApiError(code, detail, {
    headers: {
      // Printable ASCII only: a header value with a control character would throw.
      "www-authenticate": `Bearer realm="edge-rag", error="${error}", error_description="${detail.replace(/[^\x20-\x7e]/g, "?").replaceAll('"', "'")}"`,
    },
  });

export const forbidden = (detail: string) => new ApiError("FORBIDDEN", detail);

/** A tenant quota would be exceeded: nothing was changed. `quota` names it, with its limit and usage. */
export const quotaExceeded = (quota: string, limit: number, usage: number, detail: string) =>
  new ApiError("QUOTA_EXCEEDED", detail, { extensions: { quota, limit, usage } });

export const notFound = (what: string) => new ApiError("NOT_FOUND", `${what} was not found`);

export const payloadTooLarge = (limitBytes: number) => new ApiError("PAYLOAD_TOO_LARGE", `the request body exceeds ${limitBytes} bytes`);

export const unsupportedMediaType = () => new ApiError("UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");

export const rateLimited = (retryAfterSeconds: number, headers: Record<string, string>) =>
  new ApiError("RATE_LIMITED", `rate limit exceeded; retry in ${retryAfterSeconds}s`, {
    headers: { ...headers, ...retryAfter(retryAfterSeconds) },
  });

export const serviceUnavailable = (
  code: "IDP_UNAVAILABLE" | "RATE_LIMITER_UNAVAILABLE" | "INGEST_QUEUE_UNAVAILABLE",
  detail: string,
  retryAfterSeconds = 5,
  extensions?: Record<string, unknown>,
) => new ApiError(code, detail, { headers: retryAfter(retryAfterSeconds), extensions });

export const internalError = () => new ApiError("INTERNAL_ERROR", "an unexpected error occurred; quote the request id when reporting it");
