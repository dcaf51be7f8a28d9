import { z } from "@hono/zod-openapi";
import { type Reranker, RerankUnavailable, scoresByIndex, withTimeout } from "./reranker";

/**
 * Adapter: a reranker that speaks Text Embeddings Inference's `/rerank` — the origin's
 * `/v1/rerank` passes it through to a TEI serving a cross-encoder (bge-reranker-base class).
 *
 * Wire format, as TEI documents it: POST `{ query, texts: string[], raw_scores?, return_text?,
 * truncate?, truncation_direction? }` → 200 `[{ index, score, text? }]`, best first. It asks for
 * `raw_scores: false` (sigmoid scores in 0..1, comparable across queries), `return_text: false`
 * and `truncate: true` (a chunk longer than the model's 512 tokens is cut, not rejected).
 *
 * Endpoints are tried in order (origin failover); each gets `timeoutMs`. Promise: see reranker.ts.
 */
export interface TeiRerankerOptions {
  /** Full URLs of `/rerank` (TEI) or `/v1/rerank` (the origin), tried in order. */
  urls: readonly string[];
  /** Headers per call, URL and tenant, e.g. the origin's short-lived bearer token. */
  headers?: (url: string, tenant: string) => Promise<Record<string, string>>;
  fetcher?: typeof fetch;
  timeoutMs?: number;
  name?: string;
}

// Built on the first answer (z.lazy): only isolates that rerank need it.
const TeiRerankAnswerSchema = z.lazy(() => z.array(z.object({ index: z.number(), score: z.number(), text: z.string().optional() })));

export function createTeiReranker({
  urls,
  headers = async () => ({}),
  fetcher = fetch,
  timeoutMs = 2_000,
  name = "tei",
}: TeiRerankerOptions): Reranker {
  async function ask(url: string, query: string, texts: readonly string[], tenant: string): Promise<number[]> {
    return withTimeout(timeoutMs, `the reranker at ${new URL(url).host}`, async (signal) => {
      const response = await fetcher(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(await headers(url, tenant)) },
        body: JSON.stringify({ query, texts, raw_scores: false, return_text: false, truncate: true }),
        signal,
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new RerankUnavailable(`the reranker answered ${response.status}`);
      }
      const parsed = TeiRerankAnswerSchema.safeParse(await response.json().catch(() => null));
      if (!parsed.success) throw new RerankUnavailable("the reranker's answer did not have TEI's shape");
      return scoresByIndex(parsed.data, texts.length, "the reranker");
    });
  }

  return {
    name,
    async rerank(query, texts, tenant) {
      if (texts.length === 0) return [];
      let last: unknown = new RerankUnavailable("no reranker endpoint is configured");
      for (const url of urls) {
        try {
          return await ask(url, query, texts, tenant);
        } catch (error) {
          last = error;
        }
      }
      throw last instanceof RerankUnavailable ? last : new RerankUnavailable("the reranker failed", { cause: last });
    },
  };
}
