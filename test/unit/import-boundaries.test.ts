import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../tools/stack/paths";

/**
 * Shipped code and tooling never lean on tests: no module under src/, tools/ or container/src
 * imports from a test folder (test/, container/test/). What both need lives in tools/lib/. And the
 * worker's modules import each other without a circle (type imports included).
 */
const SOURCE = /\.(ts|mts|mjs|js|tsx)$/;
const TEST_FOLDERS = ["test", "container/test"].map((folder) => join(ROOT, folder));

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })
    .filter((path) => SOURCE.test(path) && !path.split("/").includes("node_modules"))
    .map((path) => join(ROOT, folder, path));
}

/** The relative specifiers of a module's static and dynamic imports and re-exports. */
const specifiers = (code: string) =>
  [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((match) => match[1]!);

const testImports = (folders: readonly string[]) =>
  folders.flatMap(sourceFiles).flatMap((file) =>
    specifiers(readFileSync(file, "utf8"))
      .map((specifier) => resolve(dirname(file), specifier))
      .filter((target) => TEST_FOLDERS.some((folder) => target.startsWith(`${folder}/`)))
      .map((target) => `${relative(ROOT, file)} → ${relative(ROOT, target)}`),
  );

/** The relative imports of each module under a folder, resolved to files (a `.ts` suffix added where the specifier has none). */
function importGraph(folder: string): Map<string, string[]> {
  const files = new Set(sourceFiles(folder));
  const resolveModule = (from: string, specifier: string) =>
    [
      resolve(dirname(from), specifier),
      `${resolve(dirname(from), specifier)}.ts`,
      join(resolve(dirname(from), specifier), "index.ts"),
    ].find((candidate) => files.has(candidate));
  return new Map(
    [...files].map((file) => [
      file,
      specifiers(readFileSync(file, "utf8"))
        .map((specifier) => resolveModule(file, specifier))
        .filter((target): target is string => target !== undefined),
    ]),
  );
}

/** Each import circle found by a depth-first walk, as the modules on it. */
function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string) => {
    if (done.has(file)) return;
    const at = path.indexOf(file);
    if (at >= 0) {
      found.push(path.slice(at).map((step) => relative(ROOT, step)));
      return;
    }
    path.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return found;
}

describe("import boundaries (happy)", () => {
  it("no file under src/, tools/ or container/src imports from a test folder", () => {
    expect(testImports(["src", "tools", "container/src"])).toEqual([]);
  });

  it("src/shared, which the origin's image copies alone, imports its own modules and packages that both packages depend on", () => {
    const shared = join(ROOT, "src/shared");
    // The image installs only container/'s production dependencies; the worker bundles the root's.
    const dependencies = ["package.json", "container/package.json"].map(
      (file) => Object.keys(JSON.parse(readFileSync(join(ROOT, file), "utf8")).dependencies) as string[],
    );
    for (const file of sourceFiles("src/shared")) {
      const code = readFileSync(file, "utf8");
      for (const specifier of specifiers(code)) expect(resolve(dirname(file), specifier).startsWith(`${shared}/`), specifier).toBe(true);
      const packages = [...code.matchAll(/\bfrom\s*["']([^."'][^"']*)["']/g)].map((match) => match[1]!);
      for (const name of packages) {
        expect(
          dependencies.every((names) => names.includes(name)),
          `${relative(ROOT, file)}: ${name}`,
        ).toBe(true);
      }
    }
  });

  it("the worker takes `z` one way: from @hono/zod-openapi (src/shared, which the origin compiles too, from zod itself; src/zod-lean is the alias)", () => {
    const fromZod = sourceFiles("src")
      .filter((file) => !/\/src\/(?:shared|zod-lean)\//.test(file))
      .filter((file) => /\bfrom\s*["']zod["']/.test(readFileSync(file, "utf8")))
      .map((file) => relative(ROOT, file));
    expect(fromZod).toEqual([]);
  });

  it("the worker's modules import each other without a circle", () => {
    expect(circles(importGraph("src"))).toEqual([]);
    // The walk does find one where there is one.
    const a = join(ROOT, "a.ts");
    const b = join(ROOT, "b.ts");
    expect(
      circles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toEqual([["a.ts", "b.ts"]]);
  });

  it("the check sees static, dynamic and re-exporting imports of a test folder", () => {
    const found = specifiers(
      `import { a } from "../../test/e2e/x";\nexport * from "./y";\nconst z = await import("../test/z");\nimport "./side";`,
    );
    expect(found).toEqual(["../../test/e2e/x", "./y", "../test/z", "./side"]);
    // And from the tests themselves it does find some: they import each other.
    expect(testImports(["test/e2e"]).length).toBeGreaterThan(0);
  });
});
