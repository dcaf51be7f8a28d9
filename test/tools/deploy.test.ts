import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BUNDLE_PROBE_BINDINGS, nodeImportableBundle } from "../../tools/bench/cold-start";
import { openApiDocumentText } from "../../tools/cli/generate-api-types";
import { ROOT } from "../../tools/stack/paths";

const run = promisify(execFile);

/**
 * Worker bundle budget (gzip, minified as deployed): heavy dependencies belong in the origin. It is
 * ARCHITECTURE.md's 250 KiB (issue 24), with the card's @upstash/redis and @upstash/ratelimit in the
 * bundle and, for the answer guard, a CommonMark parser (micromark, ~28 KiB gzip, 12 of them the HTML
 * entity table CommonMark decodes; a regex guard was the alternative, and it was bypassed: issue 25).
 * Most of the rest is zod (without its locales: src/zod-lean), our own code and the MCP SDK
 * (`npm run bench:cold-start -- --bytes` lists them).
 */
const GZIP_BUDGET_BYTES = 250 * 1024;

/**
 * The built bundle's answer to one GET as the first request of a fresh Node process (no binding is
 * needed: the services are built lazily and no route it reaches calls one): the status, the
 * content type and the body.
 */
function bundleFirstResponse(bundleFile: string, path: string): { status: number; type: string; body: string } {
  const script = `${bundleFile}.mjs`; // outside the project nothing says the .js is an ES module
  writeFileSync(script, nodeImportableBundle(readFileSync(bundleFile, "utf8")));
  const probe = `const worker = (await import(${JSON.stringify(script)})).default;
    const response = await worker.fetch(new Request("http://localhost${path}"), ${JSON.stringify(BUNDLE_PROBE_BINDINGS)}, { waitUntil() {} });
    process.stdout.write(JSON.stringify({ status: response.status, type: response.headers.get("content-type"), body: await response.text() }));`;
  return JSON.parse(
    execFileSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }),
  );
}

/**
 * GET /openapi.json from the built bundle. What the bundler changes — the zod alias, keep_names
 * off, modules loaded on first use (the document is served by the lazily loaded whole API) — must
 * not change a byte of the document.
 */
function bundleOpenApiDocument(bundleFile: string): string {
  const { status, body } = bundleFirstResponse(bundleFile, "/openapi.json");
  if (status !== 200) throw new Error(`/openapi.json answered ${status}`);
  return body;
}

describe("deployment configuration", () => {
  it.each(["staging", "production"])(
    "`wrangler deploy --dry-run --env %s` builds offline within the bundle budget",
    async (environment) => {
      const outdir = mkdtempSync(join(tmpdir(), `edge-rag-${environment}-`));
      try {
        const { stdout, stderr } = await run(
          process.execPath,
          [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--env", environment, "--outdir", outdir],
          {
            cwd: ROOT,
            env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
            timeout: 120_000,
          },
        );
        const output = stdout + stderr;
        expect(output).toContain("--dry-run: exiting now.");
        expect(output).toMatch(/env\.VECTORIZE \(edge-rag(-staging)?\)\s+Vectorize Index/);
        const bundle = readdirSync(outdir).find((file) => file.endsWith(".js"))!;
        const bytes = statSync(join(outdir, bundle)).size;
        const gzipBytes = gzipSync(readFileSync(join(outdir, bundle))).length;
        console.log(`${environment} bundle: ${(bytes / 1024).toFixed(1)} KiB, ${(gzipBytes / 1024).toFixed(1)} KiB gzip`);
        expect(gzipBytes).toBeLessThan(GZIP_BUDGET_BYTES);
        // The production entry wires Vectorize: the local stand-in (its Durable Object class, its own
        // error prefix, its factory) must not be deployed.
        const code = readFileSync(join(outdir, bundle), "utf8");
        for (const marker of ["LocalVectorIndex", "LOCAL_VECTORIZE_ERROR", "VECTOR_INDEX_DO"]) expect(code, marker).not.toContain(marker);
        // Nor the WAN delay layer (src/wan/, local entry only): no profile, no delays, no Server-Timing.
        for (const marker of ["WAN_PROFILE", "wan-round-trips", "server-timing", "KV_COLD"]) expect(code, marker).not.toContain(marker);
        // zod comes without its translations (wrangler.toml alias, src/zod-lean): German's "invalid input" is one of them.
        expect(code).not.toContain("Eingabe: erwartet");
        expect(bundleOpenApiDocument(join(outdir, bundle)) === (await openApiDocumentText()), "/openapi.json differs").toBe(true);
        // A cold isolate's first request to a route group loaded on first use (src/worker.ts): the
        // group's own 401, through the one problem renderer.
        const first = bundleFirstResponse(join(outdir, bundle), "/v1/me");
        expect(first.status).toBe(401);
        expect(first.type).toBe("application/problem+json");
        expect(JSON.parse(first.body).code).toBe("CREDENTIALS_MISSING");
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    },
    180_000,
  );

  it.each(["staging", "production"])(
    "the query backend Worker (`wrangler.backend.toml --env %s`) builds offline, placed next to the origin, with the front's data and settings",
    async (environment) => {
      const outdir = mkdtempSync(join(tmpdir(), `edge-rag-backend-${environment}-`));
      try {
        const wranglerArgs = ["deploy", "--dry-run", "-c", "wrangler.backend.toml", "--env", environment, "--outdir", outdir];
        const { stdout, stderr } = await run(process.execPath, [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), ...wranglerArgs], {
          cwd: ROOT,
          env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
          timeout: 120_000,
        });
        expect(stdout + stderr).toContain("--dry-run: exiting now.");
        const bundle = readdirSync(outdir).find((file) => file.endsWith(".js"))!;
        const code = readFileSync(join(outdir, bundle), "utf8");
        expect(gzipSync(code).length).toBeLessThan(GZIP_BUDGET_BYTES);
        for (const marker of ["LocalVectorIndex", "VECTOR_INDEX_DO", "WAN_PROFILE", "wan-round-trips"])
          expect(code, marker).not.toContain(marker);

        const { unstable_readConfig } = await import("wrangler");
        const backend = unstable_readConfig({ config: join(ROOT, "wrangler.backend.toml"), env: environment });
        const front = unstable_readConfig({ config: join(ROOT, "wrangler.toml"), env: environment });
        // Placed next to the origin it calls, probed by the origin's host name.
        expect(backend.placement?.hostname).toBe(new URL(String(front.vars.ORIGIN_URLS).split(",")[0]!).hostname);
        // The front binds it by name and entrypoint.
        expect(front.services).toContainEqual(
          expect.objectContaining({ binding: "BACKEND", service: backend.name, entrypoint: "QueryBackend" }),
        );
        // The same data and settings as the front's miss path: the tenants' objects (the front's
        // classes), D1, KV, Vectorize, and every variable but the front's own CORS list.
        expect(backend.durable_objects.bindings).toEqual([{ name: "TENANT_DATA", class_name: "TenantData", script_name: front.name }]);
        const ids = (config: typeof front) => ({
          d1: config.d1_databases.map((database: { database_id?: string }) => database.database_id),
          kv: config.kv_namespaces.map((namespace: { id?: string }) => namespace.id),
          vectorize: config.vectorize.map((index: { index_name?: string }) => index.index_name),
        });
        expect(ids(backend)).toEqual(ids(front));
        const { CORS_ALLOWED_ORIGINS: _front, ...frontVars } = front.vars;
        expect(backend.vars).toEqual(frontVars);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    },
    180_000,
  );

  it("keeps Vectorize and Workers AI out of the local configuration", () => {
    const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
    const topLevel = toml.slice(0, toml.indexOf("[env."));
    expect(topLevel).not.toMatch(/\[\[vectorize\]\]|\[ai\]/);
  });
});
