import type { GenerationOptions, QueryInput, SearchInput } from "../query/schemas";
import type { Filters } from "../retrieval/filters";
import { toHex } from "../shared/hex";
import { DEFAULT_ANSWER_TOKENS } from "../shared/origin-contract";
import type { TenantState } from "../store/tenant-store";

/**
 * Cache keys: SHA-256 over everything that shapes a cached result, so that an entry is never
 * served across tenants, cache epochs, index versions, filters, retrieval settings, models or
 * generation settings (an answer cut to 50 tokens is never served for a request for 500).
 * The request is normalised first (NFKC, whitespace collapsed; filters in canonical form), so
 * equivalent requests share an entry.
 */

/** NFKC, every run of whitespace one space, trimmed. */
export const normaliseText = (text: string) => text.normalize("NFKC").replace(/\s+/gu, " ").trim();

/**
 * Filters in one canonical form: keys sorted, a bare value as `$eq`, set operators' values sorted
 * (their order means nothing). Two filters with the same meaning give the same string.
 */
export function canonicalFilters(filters: Filters | undefined): string {
  if (!filters) return "{}";
  const canonical = Object.keys(filters)
    .sort()
    .map((key) => {
      const condition = filters[key]!;
      const operators: Record<string, unknown> = typeof condition === "object" ? { ...condition } : { $eq: condition };
      for (const set of ["$in", "$nin"]) {
        const values = operators[set];
        if (Array.isArray(values)) operators[set] = [...new Set(values.map((value) => JSON.stringify(value)))].sort();
      }
      const sorted = Object.keys(operators)
        .filter((operator) => operators[operator] !== undefined)
        .sort()
        .map((operator) => [operator, operators[operator]]);
      return [key, sorted];
    });
  return JSON.stringify(canonical);
}

/**
 * Keys this isolate computed lately, by the text they were hashed from: a repeated request (a hit)
 * takes its key from here instead of hashing again. At most KEYS_MAX_ENTRIES texts of at most
 * KEYS_MAX_CHARS each; safe to lose (a key is a pure function of its text).
 */
const recentKeys = new Map<string, string>();
const KEYS_MAX_ENTRIES = 1_000;
const KEYS_MAX_CHARS = 4_096;

/** A hex SHA-256 over the parts, which are JSON-encoded so that no two lists collide. */
export async function cacheKey(kind: string, parts: readonly unknown[]): Promise<string> {
  const text = JSON.stringify([kind, ...parts]);
  const known = recentKeys.get(text);
  if (known !== undefined) return known;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const key = `${kind}:${toHex(new Uint8Array(digest))}`;
  if (text.length <= KEYS_MAX_CHARS) {
    if (recentKeys.size >= KEYS_MAX_ENTRIES) recentKeys.clear();
    recentKeys.set(text, key);
  }
  return key;
}

/** What an answer's keys are computed from; retrievalTag: see retrievalCacheTag. */
type AnswerKeyArgs = [tenant: string, state: TenantState, input: QueryInput, answerModelTag: string, retrievalTag?: string];

/** The key of an answer for this index version. */
export function answerKey(...[tenant, state, input, answerModelTag, retrievalTag]: AnswerKeyArgs): Promise<string> {
  return cacheKey("answer", [
    ...answerScope(tenant, state, answerModelTag),
    state.indexVersion,
    ...answerRequest(input),
    ...tagged(retrievalTag),
  ]);
}

/** The key of the last good answer to a request, whatever the index version (for stale-if-error). */
export function lastGoodAnswerKey(...[tenant, state, input, answerModelTag, retrievalTag]: AnswerKeyArgs): Promise<string> {
  return cacheKey("last-good-answer", [...answerScope(tenant, state, answerModelTag), ...answerRequest(input), ...tagged(retrievalTag)]);
}

const answerScope = (tenant: string, state: TenantState, answerModelTag: string) => [
  tenant,
  state.cacheEpoch,
  state.embeddingModel,
  answerModelTag,
];
/** `explain` changes the result (sources carry ranks and scores): appended only when set, so plain keys stay as they were. */
const explained = (input: { explain?: boolean }) => (input.explain ? ["explain"] : []);

const answerRequest = (input: QueryInput) => [
  normaliseText(input.query),
  input.top_k,
  input.mode,
  canonicalFilters(input.filters),
  ...explained(input),
  ...generated(input.generation),
];

/**
 * The generation settings that differ from the origin's defaults, appended only then, so that keys
 * without them stay as they were: max_tokens 512 asked for is the default's entry. A temperature is
 * keyed whatever its value (the worker does not know the LLM's default), and even for the
 * extractive generator, which ignores it: the same entry must not change meaning with the backend.
 */
const generated = (generation: GenerationOptions | undefined) => [
  ...(generation?.max_tokens !== undefined && generation.max_tokens !== DEFAULT_ANSWER_TOKENS
    ? [`max_tokens:${generation.max_tokens}`]
    : []),
  ...(generation?.temperature !== undefined ? [`temperature:${generation.temperature}`] : []),
];

/**
 * What retrieval settings change results besides the request (the reranker: retrievalTag from
 * retrievalCacheTag); appended only when set, so keys without a reranker are unchanged.
 */
const tagged = (retrievalTag: string | undefined) => (retrievalTag ? [retrievalTag] : []);

/** The retrieval tag of a configuration: its reranker, when it has one. */
export const retrievalCacheTag = (config: { RERANKER: string }) => (config.RERANKER === "none" ? undefined : `rerank:${config.RERANKER}`);

export function searchKey(tenant: string, state: TenantState, input: SearchInput, retrievalTag?: string): Promise<string> {
  const request = [
    normaliseText(input.query),
    input.top_k,
    input.mode,
    input.group_by,
    canonicalFilters(input.filters),
    ...explained(input),
  ];
  return cacheKey("search", [tenant, state.cacheEpoch, state.embeddingModel, state.indexVersion, ...request, ...tagged(retrievalTag)]);
}
