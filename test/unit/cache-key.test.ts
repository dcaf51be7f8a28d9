import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { answerKey, cacheKey, canonicalFilters, lastGoodAnswerKey, retrievalCacheTag, searchKey } from "../../src/cache/cache-key";
import { type GenerationOptions, querySchemas } from "../../src/query/schemas";
import { DEFAULT_ANSWER_TOKENS } from "../../src/shared/origin-contract";

/**
 * Cache keys: equivalent requests share a key, and anything that changes the result (tenant, epoch,
 * index version, filters, model, reranker) changes it. The cache that uses them runs on the real
 * tiers in test/worker/query-cache.test.ts.
 */
const state = { indexVersion: 3, cacheEpoch: 0, embeddingModel: "use-lite" };
const { QueryRequestSchema, SearchRequestSchema } = querySchemas();
const query = (body: object) => QueryRequestSchema.parse(body);
const key = (body: object, overrides: Partial<typeof state> = {}, tenant = "acme", model = "extractive", tag?: string) =>
  answerKey(tenant, { ...state, ...overrides }, query(body), model, tag);

const keyWith = (body: object, generation: GenerationOptions) => answerKey("acme", state, { ...query(body), generation }, "extractive");

describe("cache keys (happy)", () => {
  it("gives NFKC and whitespace variants of a question, and filters in another order, one key", async () => {
    const plain = await key({ query: "Who discovered penicillin in 1928?", filters: { lang: "en", collection: { $in: ["b", "a"] } } });
    const variant = await key({
      query: "  Who  discovered\tpenicillin in １９２８? ",
      filters: { collection: { $in: ["a", "b", "a"] }, lang: { $eq: "en" } },
    });
    expect(variant).toBe(plain);
    expect(canonicalFilters({ lang: "en" })).toBe(canonicalFilters({ lang: { $eq: "en" } }));
  });

  it("keeps the keys of requests without generation settings, and gives the origin's default max_tokens the default's key", async () => {
    const body = { query: "Who discovered penicillin?" };
    const plain = await key(body);
    expect(await keyWith(body, {})).toBe(plain);
    expect(await keyWith(body, { max_tokens: DEFAULT_ANSWER_TOKENS })).toBe(plain);
    // The pre-change key of a plain request: its parts, unchanged.
    expect(plain).toBe(await cacheKey("answer", ["acme", 0, "use-lite", "extractive", 3, "Who discovered penicillin?", 5, "hybrid", "{}"]));
  });
});

describe("cache keys (security)", () => {
  it("never shares an answer across tenants, epochs, index versions, models, rerankers or requests", async () => {
    const body = { query: "Who discovered penicillin?" };
    const keys = await Promise.all([
      key(body),
      key(body, {}, "other-tenant"),
      key(body, { cacheEpoch: 1 }),
      key(body, { indexVersion: 4 }),
      key(body, { embeddingModel: "bge-base" }),
      key(body, {}, "acme", "llama-3"),
      key(body, {}, "acme", "extractive", retrievalCacheTag({ RERANKER: "tei" })),
      key({ ...body, top_k: 9 }),
      key({ ...body, explain: true }),
      key({ ...body, filters: { lang: "de" } }),
      keyWith(body, { max_tokens: 50 }),
      keyWith(body, { max_tokens: 500 }),
      keyWith(body, { temperature: 0 }),
      keyWith(body, { temperature: 1.2 }),
      keyWith(body, { max_tokens: 50, temperature: 1.2 }),
    ]);
    expect(new Set(keys).size).toBe(keys.length);
    expect(retrievalCacheTag({ RERANKER: "none" })).toBeUndefined();
  });

  it("keeps the last good answer across index versions only, and searches apart from answers", async () => {
    const input = query({ query: "Who discovered penicillin?" });
    const lastGood = (indexVersion: number) => lastGoodAnswerKey("acme", { ...state, indexVersion }, input, "extractive");
    expect(await lastGood(4)).toBe(await lastGood(3));
    expect(await lastGoodAnswerKey("acme", { ...state, cacheEpoch: 1 }, input, "extractive")).not.toBe(await lastGood(3));
    const search = await searchKey("acme", state, SearchRequestSchema.parse({ query: "Who discovered penicillin?" }));
    expect(search).toMatch(/^search:[0-9a-f]{64}$/);
    expect(await key({ query: "Who discovered penicillin?" })).toMatch(/^answer:[0-9a-f]{64}$/);
  });
});

describe("cacheKey: a repeated text (happy)", () => {
  it("is the SHA-256 of its JSON-encoded parts, the first time and every time after", async () => {
    const parts = ["tenant", 3, { top_k: 5 }];
    const expected = `answer:${createHash("sha256")
      .update(JSON.stringify(["answer", ...parts]))
      .digest("hex")}`;
    expect(await cacheKey("answer", parts)).toBe(expected);
    expect(await cacheKey("answer", parts)).toBe(expected);
    expect(await cacheKey("search", parts)).not.toBe(expected);
  });
});
