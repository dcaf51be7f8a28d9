/**
 * The one error type. Anything thrown as an ApiError is rendered as application/problem+json
 * (RFC 9457); anything else becomes a bare 500 INTERNAL_ERROR so that no stack, SQL or upstream
 * body ever reaches a client.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string = title,
    readonly headers: Record<string, string> = {},
    /** Extra members of the problem object (RFC 9457 extensions), e.g. per-field errors. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = "ApiError";
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  [extension: string]: unknown;
}

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

// The errors the API raises, by status. Codes are part of the contract: clients branch on them.
export const badRequest = (code: string, detail: string, extensions?: Record<string, unknown>) =>
  new ApiError(400, code, "Bad request", detail, {}, extensions);

export interface FieldError {
  /** Dotted path of the offending field ("" for the body itself). */
  path: string;
  message: string;
}

/** One 400 listing every offending field, in `errors` and summarised in `detail`. */
export const validationFailed = (errors: FieldError[]) =>
  new ApiError(400, "VALIDATION_FAILED", "Request validation failed", errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; "), {}, { errors });

/** Zod issues as field errors, optionally under a prefix (e.g. the index of a batch entry). */
export const fieldErrors = (issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, prefix: ReadonlyArray<PropertyKey> = []): FieldError[] =>
  issues.map((issue) => ({ path: [...prefix, ...issue.path].map(String).join("."), message: issue.message }));

export const unauthorized = (code: string, detail: string, error: "invalid_request" | "invalid_token" = "invalid_token") =>
  new ApiError(401, code, "Unauthorized", detail, {
    // Printable ASCII only: a header value with a control character would throw.
    "www-authenticate": `Bearer realm="edge-rag", error="${error}", error_description="${detail.replace(/[^\x20-\x7e]/g, "?").replaceAll('"', "'")}"`,
  });

export const forbidden = (detail: string) => new ApiError(403, "FORBIDDEN", "Forbidden", detail);

export const notFound = (what: string) => new ApiError(404, "NOT_FOUND", "Not found", `${what} was not found`);

export const payloadTooLarge = (limitBytes: number) =>
  new ApiError(413, "PAYLOAD_TOO_LARGE", "Payload too large", `the request body exceeds ${limitBytes} bytes`);

export const unsupportedMediaType = () =>
  new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", "send the body as application/json");

export const rateLimited = (retryAfterSeconds: number, headers: Record<string, string>) =>
  new ApiError(429, "RATE_LIMITED", "Too many requests", `rate limit exceeded; retry in ${retryAfterSeconds}s`, {
    ...headers,
    "retry-after": String(retryAfterSeconds),
  });

export const serviceUnavailable = (code: string, detail: string, retryAfterSeconds?: number) =>
  new ApiError(
    503,
    code,
    "Service unavailable",
    detail,
    retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) },
  );

export const badGateway = (code: string, detail: string) => new ApiError(502, code, "Bad gateway", detail);

export const gatewayTimeout = (code: string, detail: string) => new ApiError(504, code, "Gateway timeout", detail);

export const internalError = () =>
  new ApiError(500, "INTERNAL_ERROR", "Internal server error", "an unexpected error occurred; quote the request id when reporting it");
