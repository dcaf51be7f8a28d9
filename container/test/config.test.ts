import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config.ts";
import { runOriginExpectingFailure } from "./helpers/origin.ts";

const SECRET = "s".repeat(32);

describe("config", () => {
  it("happy: applies the documented defaults", () => {
    const config = parseConfig({ ORIGIN_JWT_SECRET: SECRET });
    expect(config).toMatchObject({
      PORT: 8788,
      HOST: "127.0.0.1",
      EMBEDDINGS_BACKEND: "use",
      GENERATION_BACKEND: "extractive",
      EMBED_MAX_BATCH: 64,
      CHUNK_SIZE: 256,
      CHUNK_OVERLAP: 32,
      UPSTREAM_TIMEOUT_MS: 10_000,
    });
  });

  it("happy: PORT=0 and numeric strings are accepted", () => {
    expect(parseConfig({ ORIGIN_JWT_SECRET: SECRET, PORT: "0", EMBED_MAX_WAIT_MS: "0" })).toMatchObject({ PORT: 0, EMBED_MAX_WAIT_MS: 0 });
    expect(parseConfig({ ORIGIN_JWT_SECRET: SECRET }).EMBED_QUERY_WORKERS).toBeUndefined();
    expect(parseConfig({ ORIGIN_JWT_SECRET: SECRET, EMBED_QUERY_WORKERS: "1" }).EMBED_QUERY_WORKERS).toBe(1);
    for (const bad of ["0", "9", "two"])
      expect(() => parseConfig({ ORIGIN_JWT_SECRET: SECRET, EMBED_QUERY_WORKERS: bad })).toThrow(/EMBED_QUERY_WORKERS/);
  });

  it("happy: a PDF's reading may add 256 MiB to its thread and take 30 s by default; less than 32 MiB or 1 s is refused", () => {
    expect(parseConfig({ ORIGIN_JWT_SECRET: SECRET })).toMatchObject({
      PARSE_PDF_MAX_MEMORY_BYTES: 256 * 1024 * 1024,
      PARSE_PDF_TIMEOUT_MS: 30_000,
    });
    expect(parseConfig({ ORIGIN_JWT_SECRET: SECRET, PARSE_PDF_MAX_MEMORY_BYTES: "33554432" }).PARSE_PDF_MAX_MEMORY_BYTES).toBe(
      32 * 1024 * 1024,
    );
    expect(() => parseConfig({ ORIGIN_JWT_SECRET: SECRET, PARSE_PDF_MAX_MEMORY_BYTES: "33554431" })).toThrow(/PARSE_PDF_MAX_MEMORY_BYTES/);
    expect(() => parseConfig({ ORIGIN_JWT_SECRET: SECRET, PARSE_PDF_TIMEOUT_MS: "999" })).toThrow(/PARSE_PDF_TIMEOUT_MS/);
  });

  it("error: names every invalid variable", () => {
    const attempt = () =>
      parseConfig({
        ORIGIN_JWT_SECRET: SECRET,
        PORT: "70000",
        EMBEDDINGS_BACKEND: "openai",
        GENERATION_BACKEND: "openai",
        GENERATION_URL: "ftp://example",
        CHUNK_SIZE: "64",
        CHUNK_OVERLAP: "64",
      });
    expect(attempt).toThrow(ConfigError);
    const message = (() => {
      try {
        attempt();
      } catch (err) {
        return (err as Error).message;
      }
    })()!;
    for (const name of ["PORT", "EMBEDDINGS_URL", "EMBEDDINGS_MODEL", "GENERATION_URL", "GENERATION_MODEL", "CHUNK_OVERLAP"]) {
      expect(message).toContain(name);
    }
  });

  it("security: a missing or short secret is refused, and the value is never echoed", () => {
    expect(() => parseConfig({})).toThrow(/ORIGIN_JWT_SECRET: is required/);
    const short = "tooshort-secret-value";
    expect(() => parseConfig({ ORIGIN_JWT_SECRET: short })).toThrow(/ORIGIN_JWT_SECRET: must be at least 32 characters/);
    let message = "";
    try {
      parseConfig({ ORIGIN_JWT_SECRET: short, EMBEDDINGS_API_KEY: "sk-should-not-leak" });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/ORIGIN_JWT_SECRET/);
    expect(message).not.toContain(short);
    expect(message).not.toContain("sk-should-not-leak");
  });

  it("error: the real process refuses to start and says why", async () => {
    const { code, output } = await runOriginExpectingFailure({ ORIGIN_JWT_SECRET: "short-but-secret", EMBEDDINGS_BACKEND: "gpu" });
    expect(code).toBe(1);
    expect(output).toContain("ORIGIN_JWT_SECRET: must be at least 32 characters");
    expect(output).toContain("EMBEDDINGS_BACKEND");
    expect(output).not.toContain("short-but-secret");
    expect(output).not.toContain("listening on");
  });
});
