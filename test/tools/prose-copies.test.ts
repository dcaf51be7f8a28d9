import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../tools/stack/paths";

/**
 * The worker and the origin are built and shipped apart (the origin's image holds only
 * container/), so the prose filter of their extractive answers is one module in two copies. They
 * must not drift: each package tests its own copy's behaviour, this test that they are the same.
 */
describe("extractive answers: the prose filter", () => {
  it("is the same module in the worker (src/answer/prose.ts) and the origin (container/src/generation/prose.ts)", () => {
    const worker = readFileSync(join(ROOT, "src/answer/prose.ts"), "utf8");
    const origin = readFileSync(join(ROOT, "container/src/generation/prose.ts"), "utf8");
    expect(origin === worker, "copy src/answer/prose.ts over container/src/generation/prose.ts (or the reverse)").toBe(true);
  });
});
