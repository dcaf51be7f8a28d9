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
  NOT_FOUND: { status: 404, title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "Payload too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  INTERNAL_ERROR: { status: 500, title: "Internal error" },
  UPSTREAM_ERROR: { status: 502, title: "Upstream error" },
  UPSTREAM_UNAVAILABLE: { status: 503, title: "Upstream unavailable" },
  NOT_READY: { status: 503, title: "Not ready" },
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

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.code = code;
    this.status = ERROR_CODES[code].status;
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
