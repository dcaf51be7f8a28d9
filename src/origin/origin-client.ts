import type { z } from "@hono/zod-openapi";
import type { Config } from "../config";
import { FileRefused, OriginBadResponse, type OriginFailure, OriginRejected, OriginTimeout, OriginUnavailable } from "../errors";
import { MAX_TEXT_CHARS_PER_MESSAGE } from "../ingest/messages";
import {
  type CondenseRequest,
  type CondenseResponse,
  CondenseResponseSchema,
  type EmbedResponse,
  EmbedResponseSchema,
  FILE_REFUSAL_CODES,
  type GenerateInput,
  type GenerateResponse,
  GenerateResponseSchema,
  type IngestResponse,
  IngestResponseSchema,
  type LocatedBlock,
  type ParseResponse,
  ParseResponseSchema,
  textOfBlocks,
} from "../shared/origin-contract";
import { type CircuitBreaker, createCircuitBreaker } from "./circuit-breaker";
import { mintOriginToken } from "./origin-token";

/**
 * The origin port: GPU embedding, chunking and generation on the containerized service. Every
 * call is made on one tenant's behalf (`Origins.forTenant`): its token names the tenant, which the
 * origin requires and logs.
 *
 * Promise: each call tries the configured origins in order, skipping those whose circuit is open,
 * with a per-call timeout (embed ~2 s, generate ~20 s, ingest ~60 s by default). When none can
 * answer it throws an `OriginFailure` — OriginUnavailable (503) or OriginTimeout (504) — so
 * callers can degrade (keyword-only retrieval, edge-extractive answers) or retry (ingestion).
 * An origin that rejects the request itself (4xx) is not failed over: that is OriginRejected (502);
 * an answer of the wrong shape is OriginBadResponse (502).
 */
export interface OriginClient {
  embed(inputs: string[], kind: "query" | "passage"): Promise<EmbedResponse>;
  /** Chunks and embeds documents: each its `text`, or its located `blocks` (then every chunk keeps its block's location). */
  ingest(documents: IngestDocument[]): Promise<IngestResponse>;
  /**
   * A file's text as located blocks (POST /v1/parse; ingest's timeout). A file the origin refuses
   * (corrupt, encrypted, not the type it claims, too large, no text…) is FileRefused, with the
   * origin's code and detail, never failed over; anything else is an OriginFailure as for the other calls.
   */
  parse(file: { body: Blob; contentType: string; filename?: string }): Promise<ParseResponse>;
  generate(request: GenerateRequest): Promise<GenerateResponse>;
  /** The origin's SSE response (`token`… then `done`), once its headers arrived. */
  generateStream(request: GenerateRequest): Promise<ReadableStream<Uint8Array>>;
  /** A conversation's last message as a standalone question (the origin's LLM, or its offline rules). */
  condense(request: CondenseRequest): Promise<CondenseResponse>;
  /** Readiness of every origin, for /ready. */
  probe(): Promise<Array<{ url: string; ok: boolean; circuit: string; latency_ms: number; error?: string }>>;
}

/** The origin for the whole worker: the calls made for a tenant, and readiness (for no tenant). */
export interface Origins {
  forTenant(tenant: string): OriginClient;
  /** Readiness of every origin, for /ready. */
  probe: OriginClient["probe"];
}

/** A document as /v1/ingest takes it. */
export type IngestDocument = { id: string; text: string } | { id: string; blocks: LocatedBlock[] };

/** A generation request (src/shared/origin-contract.ts); the client decides whether it streams. */
export type GenerateRequest = Omit<GenerateInput, "stream">;

type Operation = "embed" | "ingest" | "generate";

/** A queue consumer runs at most 15 minutes: a call leaves it time to record the outcome. */
const MAX_INGEST_TIMEOUT_MS = 10 * 60_000;

/**
 * An ingest call's timeout: ORIGIN_INGEST_TIMEOUT_MS for every 100,000 characters it carries
 * (MAX_TEXT_CHARS_PER_MESSAGE), so a
 * document of 1,000,000 characters (the API's limit, alone in its message) is not held to the time
 * of a tenth of it, which made it time out on every attempt on a CPU origin (and starve the others).
 */
export function ingestTimeoutMs(
  baseMs: number,
  documents: ReadonlyArray<{ text: string } | { blocks: ReadonlyArray<{ text: string }> }>,
): number {
  const chars = documents.reduce((sum, document) => sum + ("text" in document ? document.text : textOfBlocks(document.blocks)).length, 0);
  // ORIGIN_INGEST_TIMEOUT_MS is for what one queue message carries, unless one document is longer and travels alone.
  return Math.min(MAX_INGEST_TIMEOUT_MS, Math.max(baseMs, Math.ceil(chars / MAX_TEXT_CHARS_PER_MESSAGE) * baseMs));
}

// Circuit state is per isolate and safe to lose.
const breakers = new Map<string, CircuitBreaker>();

export function createOrigins(config: Config, fetcher: typeof fetch = fetch): Origins {
  const timeouts: Record<Operation, number> = {
    embed: config.ORIGIN_EMBED_TIMEOUT_MS,
    ingest: config.ORIGIN_INGEST_TIMEOUT_MS,
    generate: config.ORIGIN_GENERATE_TIMEOUT_MS,
  };
  const secret = new TextEncoder().encode(config.ORIGIN_JWT_SECRET);

  const breakerFor = (url: string) => {
    let breaker = breakers.get(url);
    if (!breaker) {
      breaker = createCircuitBreaker({ failureThreshold: config.ORIGIN_FAILURE_THRESHOLD, cooldownMs: config.ORIGIN_COOLDOWN_MS });
      breakers.set(url, breaker);
    }
    return breaker;
  };

  // One short-lived token per request, bound to the route and the tenant (origin-token.ts): the
  // origin refuses a token it has seen before, so a failover to the next origin mints a new one.
  const credential = (path: string, tenant?: string) => mintOriginToken(secret, path, tenant);

  /**
   * POSTs to the first origin that answers; returns the response of a 2xx. The timeout covers the
   * whole exchange, or with `streaming` only the wait for the response headers (a long answer may
   * stream for longer; readSseEvents' idle timeout guards the rest).
   */
  async function call(
    tenant: string,
    operation: Operation,
    path: string,
    body: unknown,
    streaming = false,
    timeoutMs = timeouts[operation],
    raw?: RawBody,
  ): Promise<Response> {
    let lastError: OriginFailure = new OriginUnavailable("no origin is available");
    for (const base of config.ORIGIN_URLS) {
      const breaker = breakerFor(base);
      if (!breaker.allowRequest()) continue;
      const token = await credential(path, tenant);
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
      try {
        const response = await fetcher(new URL(raw?.query ? `${path}?${raw.query}` : path, base), {
          method: "POST",
          headers: { "content-type": raw?.contentType ?? "application/json", authorization: `Bearer ${token}` },
          body: raw ? raw.body : JSON.stringify(body),
          signal: abort.signal,
        });
        if (streaming) clearTimeout(timer);
        if (response.ok) {
          breaker.recordSuccess();
          return response;
        }
        if (raw?.refusal && response.status >= 400 && response.status < 500) {
          const refused = await raw.refusal(response.clone());
          if (refused) {
            breaker.recordSuccess(); // it answered: the origin is up, the file is the problem
            await response.body?.cancel();
            throw refused;
          }
        }
        // Drain so the connection can be reused; the body is never shown to clients.
        await response.body?.cancel();
        // 401/403 mean this origin does not accept our credential (a rotated secret, clock skew):
        // its fault, not the request's, so fail over like any other broken origin.
        if (response.status >= 400 && response.status < 500 && ![401, 403, 429].includes(response.status)) {
          breaker.recordSuccess(); // it answered: the origin is up, the request is the problem
          throw new OriginRejected(`the origin rejected the ${operation} request (${response.status})`);
        }
        breaker.recordFailure();
        lastError = new OriginUnavailable(`the origin failed the ${operation} request (${response.status})`);
      } catch (error) {
        if (error instanceof OriginRejected || error instanceof FileRefused) throw error;
        breaker.recordFailure();
        lastError =
          error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")
            ? new OriginTimeout(`the origin did not answer the ${operation} request in ${timeoutMs} ms`)
            : new OriginUnavailable(`the origin could not be reached for ${operation}`);
      } finally {
        if (!streaming) clearTimeout(timer);
      }
    }
    throw lastError;
  }

  /** A 2xx answer that parses as `schema`; anything else is OriginBadResponse. */
  async function json<T>(
    tenant: string,
    operation: Operation,
    path: string,
    body: unknown,
    schema: z.ZodType<T>,
    timeoutMs?: number,
  ): Promise<T> {
    return parsedJson(await call(tenant, operation, path, body, false, timeoutMs), operation, schema);
  }

  async function probe() {
    return Promise.all(
      config.ORIGIN_URLS.map(async (url) => {
        const started = performance.now();
        const circuit = breakerFor(url).state();
        try {
          // The authenticated readiness route: the open /readyz is the kubelet's, not routed publicly.
          const response = await fetcher(new URL("/v1/readyz", url), {
            headers: { authorization: `Bearer ${await credential("/v1/readyz")}` },
            signal: AbortSignal.timeout(2_000),
          });
          await response.body?.cancel();
          return {
            url,
            ok: response.ok,
            circuit,
            latency_ms: round(performance.now() - started),
            ...(response.ok ? {} : { error: `status ${response.status}` }),
          };
        } catch (error) {
          return {
            url,
            ok: false,
            circuit,
            latency_ms: round(performance.now() - started),
            error: error instanceof Error ? error.name : "error",
          };
        }
      }),
    );
  }

  return {
    forTenant: (tenant) => ({
      async embed(inputs, kind) {
        const result = await json(tenant, "embed", "/v1/embed", { inputs, kind }, EmbedResponseSchema);
        if (result.vectors.length !== inputs.length) {
          throw new OriginBadResponse("the origin returned the wrong number of vectors");
        }
        return result;
      },
      ingest: (documents) =>
        json(tenant, "ingest", "/v1/ingest", { documents }, IngestResponseSchema, ingestTimeoutMs(timeouts.ingest, documents)),
      async parse(file) {
        const raw: RawBody = {
          body: file.body,
          contentType: file.contentType,
          query: file.filename === undefined ? undefined : new URLSearchParams({ filename: file.filename }).toString(),
          refusal: fileRefusal,
        };
        const response = await call(tenant, "ingest", "/v1/parse", undefined, false, timeouts.ingest, raw);
        return parsedJson(response, "parse", ParseResponseSchema);
      },
      generate: (request) => json(tenant, "generate", "/v1/generate", { ...request, stream: false }, GenerateResponseSchema),
      async generateStream(request) {
        const response = await call(tenant, "generate", "/v1/generate", { ...request, stream: true }, true);
        if (!response.body) throw new OriginBadResponse("the origin's stream had no body");
        return response.body;
      },
      // A generation call: it may run the LLM, so it has generation's timeout and circuit.
      condense: (request) => json(tenant, "generate", "/v1/condense", request, CondenseResponseSchema),
      probe,
    }),
    probe,
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** A request body that is not JSON (a file to parse), and how to read a refusal of it. */
interface RawBody {
  body: Blob;
  contentType: string;
  query?: string;
  /** The error a 4xx answer stands for, or null to treat it as any other rejection. */
  refusal?: (response: Response) => Promise<Error | null>;
}

/** A 2xx answer that parses as `schema`; anything else is OriginBadResponse. */
async function parsedJson<T>(response: Response, operation: string, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await response.json();
  } catch {
    throw new OriginBadResponse(`the origin's ${operation} response was not valid JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new OriginBadResponse(`the origin's ${operation} response did not have the expected shape`);
  return parsed.data;
}

/**
 * The origin's refusal of a file: its problem's code (one of FILE_REFUSAL_CODES) and detail, which
 * the origin writes for clients; null for any other answer (then it is OriginRejected, unread).
 */
async function fileRefusal(response: Response): Promise<FileRefused | null> {
  try {
    const text = await response.text();
    if (text.length > 16_384) return null;
    const problem = JSON.parse(text) as { code?: unknown; detail?: unknown };
    const { code, detail } = problem;
    if (typeof code !== "string" || !(FILE_REFUSAL_CODES as readonly string[]).includes(code) || typeof detail !== "string") return null;
    return new FileRefused(code as (typeof FILE_REFUSAL_CODES)[number], detail.slice(0, 1000));
  } catch {
    return null;
  }
}
