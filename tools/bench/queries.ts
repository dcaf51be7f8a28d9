import { type LatencySummary, runLoad, summarise } from "./load";
import { jsonPost, type Target } from "./target";

/**
 * Query figures: one cell is one endpoint, in one cache state, with the origin up or down, at one
 * concurrency. Endpoints:
 * - health: GET /health, no auth, no dependency: the floor of the worker and the HTTP hop, the
 *   baseline every ratio is taken against;
 * - me:     GET /v1/me, authentication and nothing else, not even the rate limit (me − health ≈ its cost);
 * - query:  POST /v1/query (embed, retrieve, generate);
 * - search: POST /v1/search (embed, retrieve).
 * Cache states: cold sends `cache: false` (which bypasses the answer and query-embedding caches
 * alike, so every request does the work); warm repeats a small set of questions asked before, so
 * the query cache answers. Per-phase times come from each answer's `metadata.timings_ms` and
 * `metadata.query_time_ms`; what the client saw beyond `query_time_ms` is the HTTP hop, auth, rate
 * limit, validation and serialisation ("outside").
 */
export type Endpoint = "health" | "me" | "query" | "search";
export type CacheState = "cold" | "warm" | "none";

export interface CellSpec {
  endpoint: Endpoint;
  cache: CacheState;
  origin: "up" | "down";
  concurrency: number;
}

export interface PhaseMeans {
  /** Answers that carried metadata. */
  answers: number;
  embed: number;
  retrieve: number;
  generate: number;
  /** metadata.query_time_ms: the service's own time. */
  service: number;
  /** Client latency − query_time_ms. */
  outside: number;
  /** Answers served from the query cache / marked degraded. */
  cacheHits: number;
  degraded: number;
}

export interface QueryCell extends CellSpec {
  latency: LatencySummary;
  phases: PhaseMeans | null;
}

interface AnswerMetadata {
  query_time_ms?: number;
  cache?: string;
  degraded?: boolean;
  timings_ms?: { embed?: number; retrieve?: number; generate?: number };
}

/** The request a cell sends for its i-th request. `warm` is the set of questions primed into the cache. */
export function requestFor(target: Target, spec: CellSpec, questions: string[], warm: string[]): (i: number) => Promise<Response> {
  if (spec.endpoint === "health") return () => fetch(`${target.url}/health`, { signal: AbortSignal.timeout(60_000) });
  if (spec.endpoint === "me")
    return () => fetch(`${target.url}/v1/me`, { headers: { authorization: `Bearer ${target.key}` }, signal: AbortSignal.timeout(60_000) });
  const path = spec.endpoint === "query" ? "/v1/query" : "/v1/search";
  if (spec.cache === "warm") return (i) => jsonPost(target, path, { query: warm[i % warm.length] });
  return (i) => jsonPost(target, path, { query: questions[i % questions.length], cache: false });
}

/** Asks each warm question once (cached by the query cache afterwards). */
export async function primeCache(target: Target, warm: string[]): Promise<void> {
  for (const question of warm)
    for (const path of ["/v1/query", "/v1/search"]) {
      const response = await jsonPost(target, path, { query: question });
      if (!response.ok) throw new Error(`priming ${path} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
      await response.body?.cancel();
    }
}

/**
 * After the origin restarts, waits until the worker answers a cold query from it again (its circuit
 * breaker stays open for a cooldown after the origin-down cells): measured right away, the next
 * section would time the degraded keyword-only path instead. Throws after `timeoutMs`.
 */
export async function waitUntilUndegraded(target: Target, question: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await jsonPost(target, "/v1/query", { query: question, cache: false });
    const body = (await response.json().catch(() => null)) as { metadata?: AnswerMetadata } | null;
    if (response.ok && body?.metadata && !body.metadata.degraded) return;
    if (Date.now() > deadline) throw new Error(`the worker still answers degraded ${timeoutMs / 1000} s after the origin restarted`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function measureCell(
  target: Target,
  spec: CellSpec,
  options: { count?: number; until?: () => boolean; questions: string[]; warm: string[] },
): Promise<QueryCell> {
  const sums = { answers: 0, embed: 0, retrieve: 0, generate: 0, service: 0, outside: 0, cacheHits: 0, degraded: 0 };
  const run = await runLoad({
    concurrency: spec.concurrency,
    count: options.count,
    until: options.until,
    request: requestFor(target, spec, options.questions, options.warm),
    inspect: (body, response, ms) => {
      const metadata = (body as { metadata?: AnswerMetadata } | null)?.metadata;
      if (!response.ok || !metadata || typeof metadata.query_time_ms !== "number") return;
      sums.answers += 1;
      sums.embed += metadata.timings_ms?.embed ?? 0;
      sums.retrieve += metadata.timings_ms?.retrieve ?? 0;
      sums.generate += metadata.timings_ms?.generate ?? 0;
      sums.service += metadata.query_time_ms;
      sums.outside += ms - metadata.query_time_ms;
      if (metadata.cache === "hit" || metadata.cache === "stale") sums.cacheHits += 1;
      if (metadata.degraded) sums.degraded += 1;
    },
  });
  const n = sums.answers;
  const phases =
    n === 0
      ? null
      : {
          answers: n,
          embed: sums.embed / n,
          retrieve: sums.retrieve / n,
          generate: sums.generate / n,
          service: sums.service / n,
          outside: sums.outside / n,
          cacheHits: sums.cacheHits,
          degraded: sums.degraded,
        };
  return { ...spec, latency: summarise(run), phases };
}
