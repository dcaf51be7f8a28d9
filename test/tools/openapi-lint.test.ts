import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { ServicesFactory } from "../../src/services";
import { ROOT } from "../../tools/stack/paths";

/**
 * The OpenAPI document as a client generator sees it: fetched from the app in-process (serving it
 * needs no dependency), written to a file and linted with Redocly's CLI and its recommended rules,
 * as a new user would. Errors fail the test; the remaining warnings are listed in the test below.
 */
const run = promisify(execFile);
let dir: string;
let file: string;
let document: {
  servers?: unknown[];
  components: { securitySchemes: Record<string, unknown> };
  paths: Record<string, Record<string, { operationId?: string; security?: Array<Record<string, string[]>> }>>;
};

beforeAll(async () => {
  const app = createApp((() => ({ config: {} })) as unknown as ServicesFactory);
  const response = await app.request("/openapi.json", {}, {});
  expect(response.status).toBe(200);
  document = await response.json();
  dir = mkdtempSync(join(tmpdir(), "edge-rag-openapi-"));
  file = join(dir, "openapi.json");
  writeFileSync(file, JSON.stringify(document, null, 2));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const operations = () =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
  );

describe("/openapi.json", () => {
  it("passes `redocly lint` (recommended rules) with no errors", async () => {
    const result = await run(process.execPath, [join(ROOT, "node_modules/@redocly/cli/bin/cli.js"), "lint", file, "--format=summary"], {
      cwd: dir,
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      timeout: 60_000,
    }).catch((error: { stdout: string; stderr: string; code: number }) => error);
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output, output).not.toMatch(/^error\s/m);
    expect("code" in result ? result.code : 0, output).toBe(0);
    // What is left, on purpose: /health and /ready have no 4xx, and the project names no licence.
    const warnings = [...output.matchAll(/^warning\s+(\S+):/gm)].map((match) => match[1]).sort();
    expect(warnings).toEqual(["info-license", "operation-4xx-response"]);
  });

  it("gives every operation a unique operationId (client generators name methods after it)", () => {
    const ids = operations().map(({ operation }) => operation.operationId);
    expect(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("says `security: []` on public routes and defines every scheme an operation names", () => {
    const schemes = new Set(Object.keys(document.components.securitySchemes));
    expect([...schemes].sort()).toEqual(["apiKey", "bearer", "scrapeToken"]);
    for (const { path, method, operation } of operations()) {
      expect(operation.security, `${method} ${path}`).toBeDefined();
      for (const requirement of operation.security ?? []) for (const name of Object.keys(requirement)) expect(schemes).toContain(name);
    }
    const publicRoutes = operations()
      .filter(({ operation }) => operation.security?.length === 0)
      .map(({ method, path }) => `${method} ${path}`)
      .sort();
    expect(publicRoutes).toEqual(["get /health", "get /ready", "post /v1/auth/login"]);
    expect(document.servers).toEqual([{ url: "/", description: expect.any(String) }]);
  });
});
