import createClient from "openapi-fetch";
import { readSseEvents, type SseEvent } from "../../src/sse-events";
import type { paths } from "./api-types";
import { UsageError } from "./usage-error";

/**
 * The CLI's way to the public API: `--url`/`EDGE_RAG_URL` and `--key`/`EDGE_RAG_KEY`, one request
 * helper that retries 429/5xx a few times, and the exit codes scripts can rely on.
 */
export const EXIT = {
  ok: 0,
  /** Anything unexpected (a bug, an answer the CLI cannot read). */
  error: 1,
  /** The work ran but part of it failed: documents an ingest could not index, a job that ended `failed`. */
  partial: 2,
  /** 401/403: no credential, a wrong or revoked one, or a role that is not allowed. */
  auth: 3,
  /** 404: no such document, job or key (in this tenant). */
  notFound: 4,
  /** Any other 4xx the API refused (400 validation, 409, 413, 429 after retries, 403 quota…). */
  rejected: 5,
  /** The API was unreachable, timed out or answered 5xx (after retries). */
  unavailable: 6,
  /** Wrong command line (unknown command or option, missing argument). */
  usage: 64,
} as const;

/** A failed API call, carrying the problem the API answered and the exit code it maps to. */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly status?: number,
    readonly problem?: { code?: string; detail?: string; title?: string; request_id?: string },
  ) {
    super(message);
  }
}

type Values = Record<string, string | boolean | undefined>;

export interface Connection {
  url: string;
  key: string;
}

/** `--url` or EDGE_RAG_URL, `--key` or EDGE_RAG_KEY (the environment keeps the key out of `ps`). */
export function connectionOf(values: Values, env: NodeJS.ProcessEnv = process.env): Connection {
  const url = typeof values.url === "string" ? values.url : env.EDGE_RAG_URL;
  const key = typeof values.key === "string" ? values.key : env.EDGE_RAG_KEY;
  if (!url) throw new UsageError("no API URL: pass --url <worker url> or set EDGE_RAG_URL");
  if (!key) throw new UsageError("no API key: set EDGE_RAG_KEY (or pass --key)");
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: ${url}`);
  }
  return { url, key };
}

export function exitCodeOf(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status >= 500) return EXIT.unavailable;
  return EXIT.rejected;
}

export type ApiClient = ReturnType<typeof apiClient>;

/**
 * The typed client: openapi-fetch over the types openapi-typescript generates from /openapi.json
 * (tools/cli/api-types.ts, kept up to date by a test), so a path, parameter or body the document
 * does not have is a compile error here.
 */
export function apiClient(connection: Connection) {
  return createClient<paths>({
    baseUrl: connection.url.replace(/\/+$/, ""),
    headers: { authorization: `Bearer ${connection.key}`, accept: "application/json" },
    fetch: (request) => retrying(request, connection.url),
  });
}

/** 429 and 5xx are retried (honouring Retry-After) and network errors too, before they fail. */
async function retrying(request: Request, url: string, attempts = 4): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(request.clone(), { signal: AbortSignal.timeout(120_000) });
    } catch (error) {
      if (attempt >= attempts)
        throw new ApiFailure(
          `cannot reach ${url}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`,
          EXIT.unavailable,
        );
      await sleep(250 * 2 ** attempt);
      continue;
    }
    if ((response.status === 429 || response.status >= 500) && attempt < attempts) {
      const retryAfter = Number(response.headers.get("retry-after") ?? 0);
      await response.body?.cancel();
      await sleep(Math.min(Math.max(retryAfter * 1000, 250 * 2 ** attempt), 30_000));
      continue;
    }
    return response;
  }
}

type Problem = NonNullable<ApiFailure["problem"]>;

/** The data of a successful call; a failed one throws an ApiFailure with the API's problem. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const problem = (typeof error === "object" && error !== null ? error : { detail: String(error ?? "").slice(0, 200) }) as Problem;
  const what = [problem.code, problem.detail ?? problem.title].filter(Boolean).join(": ");
  const { pathname } = new URL(response.url || "http://x/");
  throw new ApiFailure(
    `${pathname} answered ${response.status}${what ? ` ${what}` : ""}${problem.request_id ? ` (request ${problem.request_id})` : ""}`,
    exitCodeOf(response.status),
    response.status,
    problem,
  );
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Colour only when the stream is a terminal and NO_COLOR is unset. */
export function paint(stream: NodeJS.WriteStream) {
  const on = Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  const wrap = (open: number, close: number) => (text: string) => (on ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) };
}

/** Reads server-sent events from a response body. */
export async function* readEvents(response: Response): AsyncGenerator<SseEvent> {
  if (response.body) yield* readSseEvents(response.body);
}
