import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/app";
import type { ServicesFactory } from "../../src/services";
import { ROOT } from "../stack/paths";

/**
 * The CLI's typed client comes from the OpenAPI document, not from hand-written types: this serves
 * /openapi.json in-process (serving it needs no dependency), runs openapi-typescript on it (from
 * tools/openapi-typescript/, which has the TypeScript 5 its generator needs) and formats the result
 * with biome. `npm run api-types` writes it to tools/cli/api-types.ts; a test in npm test fails when
 * the committed file differs from what the document generates now.
 */
export const API_TYPES_FILE = join(ROOT, "tools/cli/api-types.ts");

/** The document as the source serves it, byte for byte (test/tools/deploy.test.ts compares the bundle's). */
export async function openApiDocumentText(): Promise<string> {
  const app = createApp((() => ({ config: {} })) as unknown as ServicesFactory);
  const response = await app.request("/openapi.json", {}, {});
  if (response.status !== 200) throw new Error(`/openapi.json answered ${response.status}`);
  return response.text();
}

export async function openApiDocument(): Promise<unknown> {
  return JSON.parse(await openApiDocumentText());
}

export async function generateApiTypes(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-api-types-"));
  try {
    const input = join(dir, "openapi.json");
    const output = join(dir, "api-types.ts");
    writeFileSync(input, JSON.stringify(await openApiDocument()));
    execFileSync(
      process.execPath,
      [
        join(ROOT, "tools/openapi-typescript/node_modules/openapi-typescript/bin/cli.js"),
        input,
        "--output",
        output,
        // Fields with a default are optional in a request (the document says so; they are not `required`).
        "--default-non-nullable",
        "false",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const generated = readFileSync(output, "utf8");
    return execFileSync(
      process.execPath,
      [join(ROOT, "node_modules/@biomejs/biome/bin/biome"), "format", `--stdin-file-path=${API_TYPES_FILE}`],
      {
        cwd: ROOT,
        input: generated,
        encoding: "utf8",
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(API_TYPES_FILE, await generateApiTypes());
  console.error("wrote tools/cli/api-types.ts");
}
