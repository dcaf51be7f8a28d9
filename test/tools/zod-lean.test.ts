import { describe, expect, it } from "vitest";
import * as zod from "zod";
import { fromJSONSchema } from "../../src/zod-lean/from-json-schema";
import * as lean from "../../src/zod-lean/index";

/**
 * The worker bundle's "zod" (wrangler.toml alias → src/zod-lean) is zod minus its translated
 * error messages and its ahead-of-time compiler. It mirrors zod's export lists by hand, so this
 * checks it against the installed zod: a zod upgrade that adds or moves an export fails here
 * instead of in production.
 */
const LEFT_OUT = ["locales", "compile", "withParser", "INVALID", "ZodCompileAsyncError", "ZodCompileUnsupportedError", "fromJSONSchema"];
/** core's members that come from compile.js. */
const LEFT_OUT_OF_CORE = ["locales", "compile", "compileFn", "withParser", "INVALID", "ZodCompileAsyncError", "ZodCompileUnsupportedError"];
const keys = (namespace: object, without: string[]) =>
  Object.keys(namespace)
    .filter((key) => !without.includes(key))
    .sort();

describe("src/zod-lean (the bundle's zod)", () => {
  it("happy: exports everything zod does but what it leaves out, as the same values", () => {
    expect(keys(lean, [])).toEqual(keys(zod, LEFT_OUT));
    expect(keys(lean.core, [])).toEqual(keys(zod.core, LEFT_OUT_OF_CORE));
    // Plain objects of the two namespaces, to compare every member by key.
    const leanValues: Record<string, unknown> = { ...lean };
    const zodValues: Record<string, unknown> = { ...zod };
    for (const key of keys(lean, ["core", "z", "default", "coerce", "iso"])) expect(leanValues[key], key).toBe(zodValues[key]);
    expect(lean.z.object).toBe(zod.z.object);
    expect(lean.default).toBe(lean.z);
    for (const key of LEFT_OUT) expect(key in lean.z, key).toBe(false);
  });

  it("happy: fromJSONSchema, left out of the namespace, is zod's own from its own module", () => {
    expect(fromJSONSchema).toBe(zod.fromJSONSchema);
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
