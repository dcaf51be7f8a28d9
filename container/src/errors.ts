/**
 * The one error type of the origin. Everything that reaches a client is rendered from it as an
 * RFC 9457 problem (application/problem+json); anything else is an internal error and is rendered as a
 * generic 500 without its message, so stacks, upstream bodies and secrets never leak.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: "Request body is invalid" },
  TOKEN_MISSING: { status: 401, title: "Authentication required" },
  TOKEN_EXPIRED: { status: 401, title: "Token expired" },
  TOKEN_INVALID: { status: 401, title: "Token invalid" },
  TOKEN_REPLAYED: { status: 401, title: "Token already used" },
  NOT_FOUND: { status: 404, title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "Payload too large" },
  // POST /v1/parse: a file past a limit other than its byte size. The worker records the code in
  // the document's job, so each names one cause.
  PDF_TOO_MANY_PAGES: { status: 413, title: "PDF has too many pages" },
  ARCHIVE_TOO_LARGE: { status: 413, title: "Archive expands too far" },
  PDF_EXPANDS_TOO_FAR: { status: 413, title: "PDF expands too far" },
  PDF_TOO_COMPLEX: { status: 413, title: "PDF takes too long to read" },
  DOCUMENT_TOO_LONG: { status: 413, title: "Document text too long" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  FILE_TYPE_MISMATCH: { status: 415, title: "File is not the type it claims" },
  // POST /v1/parse: a file of the type it claims that cannot be read as a document.
  FILE_CORRUPT: { status: 422, title: "File is corrupt" },
  PDF_ENCRYPTED: { status: 422, title: "PDF is encrypted" },
  PDF_NO_TEXT_LAYER: { status: 422, title: "PDF has no text layer" },
  NO_TEXT: { status: 422, title: "File has no text" },
  // The backend refused this caller's own input (too long for the model, not valid text): the
  // caller's fault, so a 4xx the worker does not fail over, and not a backend error.
  INPUT_REJECTED: { status: 422, title: "Input rejected by the backend" },
  // nginx's code for a client that went away before its answer: nobody reads it, but metrics
  // and logs count it apart from the origin's and its backends' failures.
  CLIENT_CLOSED: { status: 499, title: "Client closed request" },
  INTERNAL_ERROR: { status: 500, title: "Internal error" },
  UPSTREAM_ERROR: { status: 502, title: "Upstream error" },
  UPSTREAM_UNAVAILABLE: { status: 503, title: "Upstream unavailable" },
  NOT_READY: { status: 503, title: "Not ready" },
  // The origin's own embedding queue is full: shed with Retry-After rather than queue without bound.
  OVERLOADED: { status: 503, title: "Overloaded" },
  UPSTREAM_TIMEOUT: { status: 504, title: "Upstream timeout" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  request_id: string;
};

export class AppError extends Error {
  override name = "AppError";
  readonly code: ErrorCode;
  readonly status: number;
  /** Sent as Retry-After (seconds) with the problem, when set. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(detail, options);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  toProblem(requestId: string): Problem {
    return {
      type: `urn:edge-rag:problem:${this.code.toLowerCase().replaceAll("_", "-")}`,
      title: ERROR_CODES[this.code].title,
      status: this.status,
      detail: this.message,
      code: this.code,
      request_id: requestId,
    };
  }
}

/** Anything thrown becomes an AppError; unknown errors keep their cause for the log but not for the client. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError("INTERNAL_ERROR", "The origin failed to handle the request.", { cause: err });
}

/** The caller went away (its request's signal aborted) before its answer was ready. */
export function clientClosed(cause?: unknown): AppError {
  return new AppError("CLIENT_CLOSED", "The client closed the connection before the answer was ready.", { cause });
}
