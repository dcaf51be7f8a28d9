export type EmbedKind = "query" | "passage";

export type CheckResult = { ok: boolean; detail: string };

/**
 * An embedding backend (port). Adapters: `use` (USE lite on the CPU, in-process) and `openai` (any
 * OpenAI-compatible /v1/embeddings: TEI, vLLM, OpenAI).
 *
 * Promises:
 * - `embed` resolves one L2-normalised vector per input, in input order, each `dimensions` long, or
 *   rejects with an AppError (UPSTREAM_ERROR 502 / UPSTREAM_UNAVAILABLE 503 / UPSTREAM_TIMEOUT 504);
 *   never a partial result.
 * - Latency budget: one call finishes or fails within UPSTREAM_TIMEOUT_MS (remote) or the time the
 *   CPU needs for the batch (local; about 5-20 ms a sentence a core on USE lite).
 * - `check` never throws; it reports whether the backend can serve now (for /readyz).
 */
export interface EmbeddingBackend {
  readonly name: "use" | "openai";
  readonly model: string;
  /** Known up front for `use`, or when EMBEDDINGS_DIMENSIONS is set; otherwise learnt from the first reply. */
  readonly dimensions: number | undefined;
  embed(texts: string[], kind: EmbedKind, signal?: AbortSignal): Promise<Float32Array[]>;
  check(): Promise<CheckResult>;
  close(): Promise<void>;
}
