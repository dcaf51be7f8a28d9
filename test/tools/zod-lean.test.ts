import { describe, expect, it } from "vitest";
import * as zod from "zod";
import * as lean from "../../src/zod-lean/index";

/**
 * The worker bundle's "zod" (wrangler.toml alias → src/zod-lean) is zod minus its translated
 * error messages. It mirrors zod's export lists by hand, so this checks it against the installed
 * zod: a zod upgrade that adds or moves an export fails here instead of in production.
 */
const keys = (namespace: object, without: string[]) =>
  Object.keys(namespace)
    .filter((key) => !without.includes(key))
    .sort();

describe("src/zod-lean (the bundle's zod)", () => {
  it("happy: exports everything zod does except `locales`, as the same values", () => {
    expect(keys(lean, [])).toEqual(keys(zod, ["locales"]));
    expect(keys(lean.core, [])).toEqual(keys(zod.core, ["locales"]));
    // Plain objects of the two namespaces, to compare every member by key.
    const leanValues: Record<string, unknown> = { ...lean };
    const zodValues: Record<string, unknown> = { ...zod };
    for (const key of keys(lean, ["core", "z", "default", "coerce", "iso"])) expect(leanValues[key], key).toBe(zodValues[key]);
    expect(lean.z.object).toBe(zod.z.object);
    expect(lean.default).toBe(lean.z);
    expect("locales" in lean.z).toBe(false);
  });

  it("error: validation still fails with zod's English messages", () => {
    const result = lean.z.strictObject({ n: lean.z.int().min(1) }).safeParse({ n: 0, extra: true });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.message)).toEqual([
      "Too small: expected number to be >=1",
      'Unrecognized key: "extra"',
    ]);
  });
});
