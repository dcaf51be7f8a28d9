import type { Config } from "../config";
import { mintOriginToken } from "../origin/origin-token";
import type { Reranker } from "./reranker";
import { createTeiReranker } from "./tei-reranker";
import { createWorkersAiReranker, type RerankBinding, WORKERS_AI_RERANK_MODEL } from "./workers-ai-reranker";

/** The origin's rerank route: TEI's `/rerank` shape, behind the origin's per-route bearer token. */
export const ORIGIN_RERANK_PATH = "/v1/rerank";

/**
 * The reranker RERANKER names: `origin` (the origin's /v1/rerank, each origin in turn), `workers-ai`
 * (the AI binding; none without one), or none (`none`, the default: locally no cross-encoder exists).
 */
export function createReranker(
  config: Pick<Config, "RERANKER" | "RERANK_TIMEOUT_MS" | "ORIGIN_URLS" | "ORIGIN_JWT_SECRET">,
  ai: RerankBinding | undefined,
  fetcher: typeof fetch = fetch,
): Reranker | undefined {
  switch (config.RERANKER) {
    case "origin": {
      const secret = new TextEncoder().encode(config.ORIGIN_JWT_SECRET);
      return createTeiReranker({
        urls: config.ORIGIN_URLS.map((base) => new URL(ORIGIN_RERANK_PATH, base).toString()),
        headers: async (_url, tenant) => ({ authorization: `Bearer ${await mintOriginToken(secret, ORIGIN_RERANK_PATH, tenant)}` }),
        fetcher,
        timeoutMs: config.RERANK_TIMEOUT_MS,
        name: "origin:tei",
      });
    }
    case "workers-ai":
      return ai ? createWorkersAiReranker(ai, { model: WORKERS_AI_RERANK_MODEL, timeoutMs: config.RERANK_TIMEOUT_MS }) : undefined;
    default:
      return undefined;
  }
}
