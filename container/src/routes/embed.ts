import { Hono } from "hono";
import { EmbedRequestSchema } from "../../../src/shared/origin-contract.ts";
import type { AppEnv } from "../app-env.ts";
import { readJson } from "../middleware/json-body.ts";

/** POST /v1/embed: L2-normalised vectors, coalesced with other callers' inputs by the micro-batcher. */
export const embedRoutes = new Hono<AppEnv>().post("/v1/embed", async (c) => {
  const { batcher, embeddings, metrics } = c.get("services");
  const { inputs, kind } = await readJson(c, EmbedRequestSchema);
  metrics.embedInputs.inc({ kind }, inputs.length);
  // The request's signal: a client that gave up (the worker's 2 s embed budget) frees its place in the queue.
  const vectors = await batcher.embed(inputs, kind, c.req.raw.signal);
  return c.json({
    vectors: vectors.map((v) => Array.from(v)),
    model: embeddings.model,
    dimensions: vectors[0]!.length,
  });
});
