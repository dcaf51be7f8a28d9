import type { RequestIdVariables } from "hono/request-id";
import type { Config } from "./config.ts";
import type { MicroBatcher } from "./embeddings/micro-batcher.ts";
import type { EmbeddingBackend } from "./embeddings/port.ts";
import type { QuestionCondenser } from "./generation/condenser.ts";
import type { AnswerGenerator } from "./generation/port.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { DocumentParser } from "./parsing/document-parser.ts";

/** Everything the routes use, built once at start-up by server.ts (or by a test). */
export type Services = {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  embeddings: EmbeddingBackend;
  batcher: MicroBatcher;
  generator: AnswerGenerator;
  /** Rewrites a conversation's last message into a standalone question (the LLM's condense prompt, or rules). */
  condenser: QuestionCondenser;
  /** Reads an uploaded file (PDF, HTML, DOCX, Markdown, text) as located blocks of text. */
  parser: DocumentParser;
  /** True once shutdown began: /readyz turns 503 so traffic drains away. */
  draining: () => boolean;
};

/** The one typed Hono environment of the app. */
export type AppEnv = {
  Variables: RequestIdVariables & { services: Services; tenant: string | undefined };
};
