import { Hono } from "hono";
import { RerankRequestSchema, RerankResponseSchema } from "../../../src/shared/origin-contract.ts";
import type { AppEnv } from "../app-env.ts";
import { AppError } from "../errors.ts";
import { readJson } from "../middleware/json-body.ts";
import { callUpstream, ensureOk, joinUrl } from "../upstream.ts";

const WHAT = "reranker";

/**
 * POST /v1/rerank: Text Embeddings Inference's `/rerank`, passed through to the TEI that serves a
 * cross-encoder (RERANK_URL): `{ query, texts, raw_scores?, return_text?, truncate?,
 * truncation_direction? }` → `[{ index, score, text? }]`, best first. Its answer is checked (one
 * entry per text, each index once) before it is returned. Without RERANK_URL: 503, and the worker
 * keeps its fused order.
 */
export const rerankRoutes = new Hono<AppEnv>().post("/v1/rerank", async (c) => {
  const { config } = c.get("services");
  const body = await readJson(c, RerankRequestSchema);
  if (!config.RERANK_URL) throw new AppError("UPSTREAM_UNAVAILABLE", "No reranker is configured (RERANK_URL).");
  const json = await callUpstream(WHAT, config.UPSTREAM_TIMEOUT_MS, c.req.raw.signal, async (signal) => {
    const response = await fetch(joinUrl(config.RERANK_URL!, "rerank"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
    return (await ensureOk(response, WHAT)).json();
  });
  const parsed = RerankResponseSchema.safeParse(json);
  const indexes = new Set(parsed.data?.map((entry) => entry.index));
  if (
    !parsed.success ||
    parsed.data.length !== body.texts.length ||
    indexes.size !== body.texts.length ||
    [...indexes].some((i) => i >= body.texts.length)
  ) {
    throw new AppError("UPSTREAM_ERROR", `The ${WHAT} answered in an unexpected format.`);
  }
  return c.json(parsed.data);
});
