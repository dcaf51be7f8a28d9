/**
 * Builds the static pages the worker serves from Workers Static Assets (wrangler.toml `[assets]`)
 * into dist/assets (git-ignored):
 *   console/  the browser console: src/console/main.ts bundled by esbuild (with openapi-fetch),
 *             its page, stylesheet and icon
 *   docs/     the API reference: Swagger UI from the swagger-ui-dist package (the version the
 *             lockfile pins, checked below), its page and its initializer (no inline script)
 * Run by the local stack launcher (`npm start`, the e2e tests, the benchmark: tools/stack/stack.ts),
 * every vitest run (the root config: workerd and the deploy dry-run read the folder), `.ci/run`
 * (through npm test), the deploy scripts (predeploy) and the deploy workflow; `npm run build:assets`
 * on its own. It takes about a second, and writes into a fresh folder that then takes the old one's
 * place by rename, so a running `wrangler dev` never serves half a build; a build the same as the
 * folder's leaves the folder as it is.
 */
import { copyFileSync, type Dirent, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { ROOT } from "../stack/paths";

export const ASSETS_DIR = join(ROOT, "dist/assets");
/** The Swagger UI /docs serves; a different installed version fails the build (update both together). */
export const SWAGGER_UI_VERSION = "5.35.0";

const SOURCE = join(ROOT, "src/console");
const SWAGGER_UI = join(ROOT, "node_modules/swagger-ui-dist");

export async function buildConsoleAssets(outDir = ASSETS_DIR): Promise<void> {
  const installed = JSON.parse(readFileSync(join(SWAGGER_UI, "package.json"), "utf8")).version;
  if (installed !== SWAGGER_UI_VERSION) {
    throw new Error(`swagger-ui-dist ${installed} is installed; /docs is pinned to ${SWAGGER_UI_VERSION} (tools/console/build.ts)`);
  }
  const staging = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    mkdirSync(join(staging, "console"), { recursive: true });
    mkdirSync(join(staging, "docs"), { recursive: true });
    await build({
      entryPoints: { "console/console": join(SOURCE, "main.ts"), "docs/docs": join(SOURCE, "docs.ts") },
      outdir: staging,
      bundle: true,
      minify: true,
      format: "esm",
      target: "es2022",
      platform: "browser",
      legalComments: "none",
      logLevel: "warning",
    });
    for (const file of ["index.html", "console.css", "icon.svg"]) copyFileSync(join(SOURCE, file), join(staging, "console", file));
    copyFileSync(join(SOURCE, "docs.html"), join(staging, "docs/index.html"));
    copyFileSync(join(SOURCE, "docs.css"), join(staging, "docs/docs.css"));
    copyFileSync(join(SOURCE, "icon.svg"), join(staging, "docs/icon.svg"));
    for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) copyFileSync(join(SWAGGER_UI, file), join(staging, "docs", file));
    // Unchanged (the usual case: every vitest run and every stack of a test run builds): the folder
    // stays as it is, so the build never swaps it under a workerd or a `wrangler dev` that reads it,
    // nor under another process's build (npm test runs vitest processes side by side).
    if (sameTree(staging, outDir)) return;
    const previous = `${staging}.old`;
    try {
      renameSync(outDir, previous);
    } catch (error) {
      // None yet (a fresh clone), or another build has just moved it.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    try {
      renameSync(staging, outDir);
    } catch (error) {
      // Another build put its folder there in between; the same build is as good as ours.
      if (!sameTree(staging, outDir)) throw error;
    }
    rmSync(previous, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Whether two folders hold the same files with the same bytes (false when either is missing). */
function sameTree(a: string, b: string): boolean {
  if (!existsSync(a) || !existsSync(b)) return false;
  const files = (dir: string) =>
    (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((entry) => entry.isFile())
      .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
      .sort();
  const names = files(a);
  const others = files(b);
  return (
    names.length === others.length &&
    names.every((name, i) => name === others[i] && readFileSync(join(a, name)).equals(readFileSync(join(b, name))))
  );
}

/** Each built file's size, raw and gzip (what a browser downloads), in KiB. */
export function assetSizes(outDir = ASSETS_DIR): string[] {
  return ["console", "docs"].flatMap((folder) =>
    readdirSync(join(outDir, folder)).map((file) => {
      const bytes = readFileSync(join(outDir, folder, file));
      return `${folder}/${file}: ${(bytes.length / 1024).toFixed(1)} KiB, ${(gzipSync(bytes).length / 1024).toFixed(1)} KiB gzip`;
    }),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildConsoleAssets();
  console.error(`static pages built into ${ASSETS_DIR}:\n  ${assetSizes().join("\n  ")}`);
}
