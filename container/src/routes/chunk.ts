import { Hono } from "hono";
import { type ChunkRequest, ChunkRequestSchema } from "../../../src/shared/origin-contract.ts";
import type { AppEnv, Services } from "../app-env.ts";
import { chunkDocuments } from "../chunking/sentence-chunker.ts";
import { AppError } from "../errors.ts";
import { readJson } from "../middleware/json-body.ts";

/** Chunks the documents of a chunk/ingest body with the request's sizes or the configured defaults. */
async function chunkBody(services: Services, body: ChunkRequest) {
  const chunkSize = body.chunk_size ?? services.config.CHUNK_SIZE;
  const chunkOverlap = body.chunk_overlap ?? Math.min(services.config.CHUNK_OVERLAP, chunkSize - 1);
  if (chunkOverlap >= chunkSize) {
    throw new AppError("VALIDATION_FAILED", "chunk_overlap: must be smaller than chunk_size");
  }
  const documents = await chunkDocuments(body.documents, { chunkSize, chunkOverlap });
  services.metrics.chunksCreated.inc(documents.reduce((n, d) => n + d.chunks.length, 0));
  return documents;
}

export const chunkRoutes = new Hono<AppEnv>()
  // POST /v1/chunk: sentence-aware chunks with their offsets in the source text.
  .post("/v1/chunk", async (c) => {
    const body = await readJson(c, ChunkRequestSchema);
    return c.json({ documents: await chunkBody(c.get("services"), body) });
  })

  // POST /v1/ingest: chunk, then embed every chunk as a passage (what the edge's ingestion consumer calls).
  .post("/v1/ingest", async (c) => {
    const services = c.get("services");
    const body = await readJson(c, ChunkRequestSchema);
    const documents = await chunkBody(services, body);
    const texts = documents.flatMap((d) => d.chunks.map((chunk) => chunk.text));
    services.metrics.embedInputs.inc({ kind: "passage" }, texts.length);
    // A client that gave up (the worker's ingest timeout) takes its queued chunks out of the queue.
    const vectors = texts.length > 0 ? await services.batcher.embed(texts, "passage", c.req.raw.signal) : [];
    let next = 0;
    return c.json({
      model: services.embeddings.model,
      dimensions: vectors[0]?.length ?? services.embeddings.dimensions ?? 0,
      documents: documents.map((d) => ({
        id: d.id,
        chunks: d.chunks.map((chunk) => ({ ...chunk, vector: Array.from(vectors[next++]!) })),
      })),
    });
  });
