import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../tools/stack/paths";

/**
 * Shipped code and tooling never lean on tests: no module under src/, tools/ or container/src
 * imports from a test folder (test/, container/test/). What both need lives in tools/lib/.
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

describe("import boundaries (happy)", () => {
  it("no file under src/, tools/ or container/src imports from a test folder", () => {
    expect(testImports(["src", "tools", "container/src"])).toEqual([]);
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
