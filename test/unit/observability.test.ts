import { afterEach, describe, expect, it, vi } from "vitest";
import { OriginTimeout, OriginUnavailable, StoreUnavailable } from "../../src/errors";
import { createLogger, errorFields } from "../../src/logger";
import { metrics, renderMetrics } from "../../src/metrics";

afterEach(() => vi.restoreAllMocks());

describe("structured logger (security)", () => {
  it("writes one JSON object per line with the bound fields, and redacts anything named like a credential", () => {
    const lines: string[] = [];
    vi.spyOn(console, "warn").mockImplementation((line: string) => void lines.push(line));
    createLogger().with({ request_id: "req-1" }).warn("origin refused", {
      authorization: "Bearer erk_abc_secret",
      api_key: "erk_x",
      AUTH_JWT_SECRET: "s3cret",
      password: "p",
      tenant: "acme",
    });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: "warn", msg: "origin refused", request_id: "req-1", tenant: "acme" });
    for (const field of ["authorization", "api_key", "AUTH_JWT_SECRET", "password"]) expect(entry[field]).toBe("[redacted]");
    expect(lines[0]).not.toMatch(/erk_|s3cret/);
  });

  it("describes an error by class, code and cause", () => {
    const fields = errorFields(new StoreUnavailable(new Error("D1_ERROR: Network connection lost.")));
    expect(fields).toEqual({
      error: "StoreUnavailable: the document store is unavailable; retry shortly",
      code: "STORE_UNAVAILABLE",
      cause: "Error: D1_ERROR: Network connection lost.",
    });
  });
});

describe("typed errors (happy)", () => {
  it("take their status and code from the one table, and are told apart by class", () => {
    const unavailable = new OriginUnavailable("down");
    expect(unavailable).toMatchObject({ status: 503, code: "ORIGIN_UNAVAILABLE", headers: { "retry-after": "5" } });
    expect(new OriginTimeout("slow")).toMatchObject({ status: 504, code: "ORIGIN_TIMEOUT", headers: {} });
    expect(unavailable).not.toBeInstanceOf(OriginTimeout);
  });
});

describe("metrics declared once (happy)", () => {
  it("renders a declared counter with its help text once, whatever the number of series", () => {
    metrics.ingestMessages.inc({ outcome: "ok" });
    metrics.ingestMessages.inc({ outcome: "retry" }, 2);
    const text = renderMetrics();
    expect(text.match(/# HELP edge_rag_ingest_messages_total /g)).toHaveLength(1);
    expect(text).toMatch(/edge_rag_ingest_messages_total\{outcome="retry"\} \d+/);
  });
});
