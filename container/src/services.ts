import type { Services } from "./app-env.ts";
import type { Config } from "./config.ts";
import { createMicroBatcher } from "./embeddings/micro-batcher.ts";
import { createOpenAIEmbeddings } from "./embeddings/openai-backend.ts";
import type { EmbeddingBackend } from "./embeddings/port.ts";
import { createUseBackend } from "./embeddings/use-backend.ts";
import { createLLMCondenser, createRulesCondenser, type QuestionCondenser } from "./generation/condenser.ts";
import { createExtractiveGenerator } from "./generation/extractive.ts";
import { createLLMGenerator } from "./generation/llm-generator.ts";
import type { AnswerGenerator } from "./generation/port.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { createDocumentParser } from "./parsing/document-parser.ts";

/** The configured embedding adapter; for `use` it resolves once the model is loaded in every worker. */
export async function createEmbeddings(config: Config, metrics?: Metrics): Promise<EmbeddingBackend> {
  if (config.EMBEDDINGS_BACKEND === "use") {
    return createUseBackend({
      workers: config.EMBED_WORKERS,
      queryWorkers: config.EMBED_QUERY_WORKERS,
      onPassageWait: (seconds) => metrics?.embedPassageGateWait.observe(seconds),
    });
  }
  return createOpenAIEmbeddings({
    url: config.EMBEDDINGS_URL!,
    model: config.EMBEDDINGS_MODEL!,
    apiKey: config.EMBEDDINGS_API_KEY,
    dimensions: config.EMBEDDINGS_DIMENSIONS,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
  });
}

/** The configured generation adapter. */
export function createGenerator(config: Config): AnswerGenerator {
  if (config.GENERATION_BACKEND === "extractive") return createExtractiveGenerator();
  return createLLMGenerator({
    url: config.GENERATION_URL!,
    model: config.GENERATION_MODEL!,
    apiKey: config.GENERATION_API_KEY,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    contextWindow: config.GENERATION_CONTEXT_WINDOW,
  });
}

/** The configured condense step: the generation LLM's condense prompt, or the offline rules. */
export function createCondenser(config: Config): QuestionCondenser {
  if (config.GENERATION_BACKEND === "extractive") return createRulesCondenser();
  return createLLMCondenser({
    url: config.GENERATION_URL!,
    model: config.GENERATION_MODEL!,
    apiKey: config.GENERATION_API_KEY,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    contextWindow: config.GENERATION_CONTEXT_WINDOW,
  });
}

/** Wires the backends, the micro-batcher and the metrics into what the routes use. */
export function createServices(parts: {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  embeddings: EmbeddingBackend;
  draining: () => boolean;
  /** Overrides the batcher's concurrency (the benchmark's "no micro-batching" run). */
  maxInFlight?: number;
}): Services {
  const { config, logger, metrics, embeddings, draining } = parts;
  return {
    config,
    logger,
    metrics,
    embeddings,
    draining,
    generator: createGenerator(config),
    condenser: createCondenser(config),
    parser: createDocumentParser({
      maxPages: config.PARSE_MAX_PAGES,
      maxUnzippedBytes: config.PARSE_MAX_UNZIPPED_BYTES,
      maxPdfMemoryBytes: config.PARSE_PDF_MAX_MEMORY_BYTES,
      pdfTimeoutMs: config.PARSE_PDF_TIMEOUT_MS,
      maxConcurrent: config.PARSE_MAX_CONCURRENT,
    }),
    batcher: createMicroBatcher({
      maxBatch: config.EMBED_MAX_BATCH,
      maxWaitMs: config.EMBED_MAX_WAIT_MS,
      // USE: one batch at a time per lane (queries, passages), spread over all worker threads by the
      // backend (measured best: see README). A remote GPU server overlaps several batches and batches
      // concurrent calls itself.
      maxInFlight: parts.maxInFlight ?? (embeddings.name === "use" ? 1 : 8),
      maxQueue: config.EMBED_MAX_QUEUE,
      run: async (texts, kind, signal) => {
        const end = metrics.embedBackendDuration.startTimer();
        try {
          return await embeddings.embed(texts, kind, signal);
        } finally {
          end();
        }
      },
      onDispatch: (size, waits) => {
        metrics.embedBatchSize.observe(size);
        for (const w of waits) metrics.embedQueueWait.observe(w);
      },
      onShed: (kind) => metrics.embedShed.inc({ kind }),
    }),
  };
}
