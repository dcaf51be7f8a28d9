import { availableParallelism } from "node:os";
import { z } from "zod";

/** Integer env var with bounds; empty strings count as unset so `FOO=` falls back to the default. */
const int = (min: number, max: number) => z.preprocess((v) => (v === "" ? undefined : v), z.coerce.number().int().min(min).max(max));
const optionalString = z.preprocess((v) => (v === "" ? undefined : v), z.string().optional());
const optionalUrl = z.preprocess((v) => (v === "" ? undefined : v), z.url({ protocol: /^https?$/ }).optional());

const envSchema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    PORT: int(0, 65535).default(8788),
    HOST: z.string().min(1).default("127.0.0.1"),
    // Always required: the worker signs every call with it. The local launcher passes a dev value explicitly.
    ORIGIN_JWT_SECRET: z.string({ error: "is required" }).min(32, "must be at least 32 characters"),

    EMBEDDINGS_BACKEND: z.enum(["use", "openai"]).default("use"),
    EMBEDDINGS_URL: optionalUrl,
    EMBEDDINGS_MODEL: optionalString,
    EMBEDDINGS_API_KEY: optionalString,
    EMBEDDINGS_DIMENSIONS: int(1, 16384).optional(),
    EMBED_MAX_BATCH: int(1, 256).default(64),
    EMBED_MAX_WAIT_MS: int(0, 1000).default(2),
    // Inputs waiting per lane (queries, passages) before more are shed with a 503: a bound on memory
    // and on the wait while the backend is slow. A call that finds its lane empty always gets in.
    EMBED_MAX_QUEUE: int(1, 1_000_000).default(4096),
    EMBED_WORKERS: int(1, 64).default(Math.min(availableParallelism(), 8)),
    // USE query threads (their own pool); unset: min(EMBED_WORKERS, 2). Each holds a model copy.
    EMBED_QUERY_WORKERS: int(1, 8).optional(),

    GENERATION_BACKEND: z.enum(["extractive", "openai"]).default("extractive"),
    GENERATION_URL: optionalUrl,
    GENERATION_MODEL: optionalString,
    GENERATION_API_KEY: optionalString,
    GENERATION_CONTEXT_WINDOW: int(512, 10_000_000).default(8192),

    /** A Text Embeddings Inference server serving a cross-encoder (bge-reranker-base): POST {RERANK_URL}/rerank. Unset: /v1/rerank answers 503. */
    RERANK_URL: optionalUrl,
    UPSTREAM_TIMEOUT_MS: int(100, 600_000).default(10_000),
    CHUNK_SIZE: int(16, 8192).default(256),
    CHUNK_OVERLAP: int(0, 4096).default(32),
    MAX_BODY_BYTES: int(1024, 100 * 1024 * 1024).default(10 * 1024 * 1024),
    // POST /v1/parse: a file's bytes (its own body limit: files are bigger than JSON calls), a PDF's
    // pages, and what a DOCX (a ZIP archive) declares it expands to, checked before inflating it.
    PARSE_MAX_BYTES: int(1024, 1024 * 1024 * 1024).default(50 * 1024 * 1024),
    PARSE_MAX_PAGES: int(1, 100_000).default(2000),
    PARSE_MAX_UNZIPPED_BYTES: int(1024, 4 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
    // A PDF is read in a worker thread, stopped when reading it adds more than this to the thread's
    // memory (its inflated streams: a decompression bomb) or takes longer than this (parsing/pdf.ts).
    PARSE_PDF_MAX_MEMORY_BYTES: int(32 * 1024 * 1024, 16 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
    PARSE_PDF_TIMEOUT_MS: int(1000, 600_000).default(30_000),
    // Files parsed at once; another is shed with a 503 (Retry-After) before its body is read: each
    // holds its file and what its library builds from it (several times the file) in memory.
    PARSE_MAX_CONCURRENT: int(1, 64).default(2),
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  })
  .superRefine((env, ctx) => {
    const need = (cond: boolean, path: keyof typeof env, message: string) => {
      if (cond && !env[path]) ctx.addIssue({ code: "custom", path: [path], message });
    };
    need(env.EMBEDDINGS_BACKEND === "openai", "EMBEDDINGS_URL", "is required when EMBEDDINGS_BACKEND=openai");
    need(env.EMBEDDINGS_BACKEND === "openai", "EMBEDDINGS_MODEL", "is required when EMBEDDINGS_BACKEND=openai");
    need(env.GENERATION_BACKEND === "openai", "GENERATION_URL", "is required when GENERATION_BACKEND=openai");
    need(env.GENERATION_BACKEND === "openai", "GENERATION_MODEL", "is required when GENERATION_BACKEND=openai");
    if (env.CHUNK_OVERLAP >= env.CHUNK_SIZE) {
      ctx.addIssue({ code: "custom", path: ["CHUNK_OVERLAP"], message: "must be smaller than CHUNK_SIZE" });
    }
  });

export type Config = z.infer<typeof envSchema>;

/** Thrown at start-up; the message names every invalid variable and never echoes a value (they may be secrets). */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses and validates the environment once, at start-up. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k]]));
  const result = envSchema.safeParse(known);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "environment");
    const message = issue.code === "invalid_type" && issue.input === undefined ? "is required" : issue.message;
    return `  ${name}: ${message}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}
