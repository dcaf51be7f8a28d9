import { z } from "zod";
import { AppError } from "../errors.ts";
import { callUpstream, ensureOk, joinUrl, probeUpstream } from "../upstream.ts";
import type { EmbeddingBackend, EmbedKind } from "./port.ts";

export type OpenAIEmbeddingsOptions = {
  url: string;
  model: string;
  apiKey?: string | undefined;
  dimensions?: number | undefined;
  timeoutMs: number;
};

// The OpenAI wire format; TEI and vLLM answer the same shape.
const embeddingsResponse = z.object({
  data: z.array(z.object({ index: z.number().int().nonnegative(), embedding: z.array(z.number()) })),
});

const WHAT = "embedding backend";

/** Any OpenAI-compatible POST {url}/embeddings (Hugging Face TEI on GPU in production, vLLM, OpenAI). */
export function createOpenAIEmbeddings(options: OpenAIEmbeddingsOptions): EmbeddingBackend {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  let dimensions = options.dimensions;

  return {
    name: "openai",
    model: options.model,
    get dimensions() {
      return dimensions;
    },

    async embed(texts: string[], _kind: EmbedKind, signal?: AbortSignal): Promise<Float32Array[]> {
      const body = {
        model: options.model,
        input: texts,
        encoding_format: "float",
        ...(options.dimensions ? { dimensions: options.dimensions } : {}),
      };
      const json = await callUpstream(WHAT, options.timeoutMs, signal, async (s) => {
        const response = await fetch(joinUrl(options.url, "embeddings"), {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          signal: s,
        });
        return (await ensureOk(response, WHAT, { rejectsInput: true })).json();
      });
      const parsed = embeddingsResponse.safeParse(json);
      if (!parsed.success || parsed.data.data.length !== texts.length) {
        throw new AppError("UPSTREAM_ERROR", `The ${WHAT} answered in an unexpected format.`);
      }
      const rows = parsed.data.data.toSorted((a, b) => a.index - b.index);
      const expected = dimensions ?? rows[0]?.embedding.length;
      if (!expected || rows.some((r, i) => r.index !== i || r.embedding.length !== expected)) {
        throw new AppError("UPSTREAM_ERROR", `The ${WHAT} returned vectors of unexpected size.`);
      }
      dimensions = expected;
      return rows.map((r) => normalise(r.embedding));
    },

    check() {
      return probeUpstream(WHAT, joinUrl(options.url, "models"), Math.min(options.timeoutMs, 2000), options.apiKey);
    },

    async close() {},
  };
}

function normalise(values: number[]): Float32Array {
  const v = Float32Array.from(values);
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
