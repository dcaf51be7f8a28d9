import { AppError, clientClosed } from "./errors.ts";

/**
 * Runs one upstream call (fetch plus reading its body) under a deadline and maps every failure to a
 * problem code: no answer in time → UPSTREAM_TIMEOUT (504); cannot connect, 429 or 503 →
 * UPSTREAM_UNAVAILABLE (503); any other failure → UPSTREAM_ERROR (502). Upstream bodies are never copied
 * into the error (they may echo prompts or keys). A caller's own abort (its client went away) is
 * CLIENT_CLOSED, never a backend failure.
 */
export async function callUpstream<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  try {
    return await call(combined);
  } catch (err) {
    // The raw abort reason is often not an Error (node-server aborts with a string): wrap it.
    if (signal?.aborted) throw clientClosed(err);
    throw toUpstreamError(what, timeoutMs, err, deadline.aborted);
  }
}

export function toUpstreamError(what: string, timeoutMs: number, err: unknown, timedOut = false): AppError {
  if (err instanceof AppError) return err;
  if (timedOut || (err instanceof Error && err.name === "TimeoutError")) {
    return new AppError("UPSTREAM_TIMEOUT", `The ${what} did not answer within ${timeoutMs} ms.`, { cause: err });
  }
  if (err instanceof TypeError) {
    // undici reports refused/reset/unresolvable connections as TypeError("fetch failed").
    return new AppError("UPSTREAM_UNAVAILABLE", `The ${what} cannot be reached.`, { cause: err });
  }
  return new AppError("UPSTREAM_ERROR", `The ${what} failed.`, { cause: err });
}

/**
 * Throws the mapped AppError for a non-2xx upstream response (after discarding its body). With
 * `rejectsInput`, a 400/413/422 is INPUT_REJECTED (422): the backend refused the inputs themselves
 * (TEI: over 512 tokens without --auto-truncate, text serde cannot read), not a backend failure.
 */
export async function ensureOk(response: Response, what: string, options: { rejectsInput?: boolean } = {}): Promise<Response> {
  if (response.ok) return response;
  await response.body?.cancel().catch(() => {});
  const status = response.status;
  if (options.rejectsInput && (status === 400 || status === 413 || status === 422)) {
    throw new AppError("INPUT_REJECTED", `The ${what} refused an input (HTTP ${status}): too long for the model or not valid text.`);
  }
  if (status === 429 || status === 503) {
    throw new AppError("UPSTREAM_UNAVAILABLE", `The ${what} is overloaded or unavailable (HTTP ${status}).`);
  }
  if (status === 504 || status === 408) {
    throw new AppError("UPSTREAM_TIMEOUT", `The ${what} timed out (HTTP ${status}).`);
  }
  throw new AppError("UPSTREAM_ERROR", `The ${what} answered HTTP ${status}.`);
}

/** Joins a base URL (e.g. http://tei:8080/v1) and a path without doubling or dropping slashes. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** Readiness probe for an OpenAI-compatible server: any HTTP answer below 500 means it is reachable. */
export async function probeUpstream(what: string, url: string, timeoutMs: number, apiKey?: string) {
  try {
    const response = await fetch(url, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => {});
    return response.status < 500
      ? { ok: true, detail: `${what} reachable` }
      : { ok: false, detail: `${what} answered HTTP ${response.status}` };
  } catch (err) {
    return { ok: false, detail: toUpstreamError(what, timeoutMs, err).message };
  }
}
