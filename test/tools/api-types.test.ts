import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { API_TYPES_FILE, generateApiTypes } from "../../tools/cli/generate-api-types";

/**
 * The CLI's typed client (openapi-fetch) is typed by tools/cli/api-types.ts, which openapi-typescript
 * generates from /openapi.json. When a route's schema changes, this fails until `npm run api-types`
 * regenerates the file, and `tsc` then shows every CLI call the change breaks.
 */
describe("tools/cli/api-types.ts", () => {
  it("is what openapi-typescript generates from today's /openapi.json (else: npm run api-types)", async () => {
    const committed = readFileSync(API_TYPES_FILE, "utf8");
    expect(committed === (await generateApiTypes()), "tools/cli/api-types.ts is out of date: run `npm run api-types`").toBe(true);
  }, 60_000);
});
