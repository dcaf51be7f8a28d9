import { ConfigError } from "../config";
import { OriginFailure } from "../errors";
import { errorFields, log } from "../logger";
import type { Origins } from "../origin/origin-client";

/**
 * Port: query embeddings for dense retrieval.
 *
 * Promise: one outcome per query, in order, from ONE call for the whole list (a batch of queries
 * costs one round trip). An outage of the embedding backend is an outcome (`ok: false`, with the
 * failure), not an exception, so retrieval degrades to keyword-only instead of failing; only a
 * bug throws. Latency: the backend's (origin: ~2 s timeout, typically a few ms on GPU).
 */
export interface QueryEmbedder {
  /** `scope` names whose queries these are, for embedders that keep per-tenant state (the cache). */
  embed(queries: readonly string[], scope?: EmbeddingScope): Promise<EmbeddingOutcome[]>;
}

export interface EmbeddingScope {
  tenant: string;
  /** false: the request asked to bypass every cache (`cache: false`). */
  cache: boolean;
  /** Work that may outlive the response (cache fills). */
  defer: (work: Promise<unknown>) => void;
}

/** Where a query vector came from: the origin (TEI on GPU, the offline USE model locally) or Workers AI. */
export type EmbeddingBackend = "origin" | "workers-ai";

/**
 * A query embedding, or why there is none. `backend` names what produced the vector; `fallback`
 * is true when the primary backend could not and a fallback did (retrieval reports it).
 */
export type EmbeddingOutcome =
  | { ok: true; vector: number[]; ms: number; backend: EmbeddingBackend; fallback: boolean }
  | { ok: false; error: EmbeddingFailure; ms: number };

/** Why a query has no embedding: the origin's failure, or another backend's. Logged, never shown to clients. */
export type EmbeddingFailure = OriginFailure | EmbeddingBackendUnavailable;

/** A backend other than the origin failed, timed out or answered something unusable. */
export class EmbeddingBackendUnavailable extends Error {
  static readonly code = "EMBEDDING_BACKEND_UNAVAILABLE";
  readonly code = EmbeddingBackendUnavailable.code;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmbeddingBackendUnavailable";
  }
}

/** An embedder that can stand in for the origin: it says what it is and how wide its vectors are. */
export interface FallbackEmbedder extends QueryEmbedder {
  readonly backend: EmbeddingBackend;
  readonly model: string;
  /** The width of every vector it returns; an answer of another width is an `ok: false` outcome. */
  readonly dimensions: number;
}

/** The origin's embedder (TEI on GPU in production, the offline USE model locally). */
export function createOriginEmbedder(origin: Origins): QueryEmbedder {
  return {
    async embed(queries, scope) {
      if (queries.length === 0) return [];
      // Every origin call names its tenant; an embedding for nobody is a bug, not an outage.
      if (!scope) throw new Error("an origin embedding needs the tenant it is for");
      const started = performance.now();
      try {
        const { vectors } = await origin.forTenant(scope.tenant).embed([...queries], "query");
        const ms = performance.now() - started;
        return vectors.map((vector) => ({ ok: true, vector, ms, backend: "origin", fallback: false }));
      } catch (error) {
        if (!(error instanceof OriginFailure)) throw error;
        log.warn("the origin could not embed the query", errorFields(error));
        const ms = performance.now() - started;
        return queries.map(() => ({ ok: false, error, ms }));
      }
    },
  };
}

/**
 * The query embedder of the services: the origin's, and when the platform has one (production:
 * Workers AI) a fallback for the queries the origin could not embed. The fallback is used only
 * when its vectors are as wide as the index's (`dimensions`, EMBEDDING_DIMENSIONS); otherwise
 * this throws a ConfigError, since vectors of another width would be refused by the index, or
 * worse, compared with those of another model.
 */
export function createQueryEmbedder(origin: Origins, options: { fallback?: FallbackEmbedder; dimensions: number }): QueryEmbedder {
  const primary = createOriginEmbedder(origin);
  return options.fallback ? withEmbeddingFallback(primary, options.fallback, options.dimensions) : primary;
}

/**
 * Primary first; the queries it could not embed (an outage, a timeout, open circuits) go to the
 * fallback in ONE call, and its vectors come back marked `fallback`. When the fallback fails too,
 * the outcome is the primary's failure (retrieval then runs keyword-only).
 * Latency: the primary's, plus the fallback's for a query the primary failed (the primary's
 * timeout bounds the first part; the fallback's own timeout the second).
 */
export function withEmbeddingFallback(primary: QueryEmbedder, fallback: FallbackEmbedder, dimensions: number): QueryEmbedder {
  if (fallback.dimensions !== dimensions) {
    throw new ConfigError([
      `EMBEDDING_DIMENSIONS: the query-embedding fallback ${fallback.model} gives ${fallback.dimensions}-dimensional vectors, the index has ${dimensions}; ` +
        "choose a fallback model of the index's width, or none",
    ]);
  }
  return {
    async embed(queries, scope) {
      const outcomes = await primary.embed(queries, scope);
      const failed = outcomes.flatMap((outcome, index) => (outcome.ok ? [] : [index]));
      if (failed.length === 0) return outcomes;
      const rescued = await fallback.embed(
        failed.map((index) => queries[index]!),
        scope,
      );
      const merged = [...outcomes];
      for (const [position, index] of failed.entries()) {
        const first = outcomes[index]!;
        const second = rescued[position]!;
        const ms = first.ms + second.ms;
        merged[index] = second.ok ? { ...second, ms, fallback: true } : { ...first, ms };
      }
      const fellBack = rescued.filter((outcome) => outcome.ok).length;
      const lost = rescued.find((outcome) => !outcome.ok);
      if (fellBack > 0) {
        log.warn("queries embedded by the fallback", { backend: fallback.backend, model: fallback.model, queries: fellBack });
      }
      if (lost && !lost.ok) log.warn("the fallback could not embed the query either; keyword retrieval only", errorFields(lost.error));
      return merged;
    },
  };
}
