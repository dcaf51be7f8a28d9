import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, maxDepth } from "../../src/middleware/json-depth";
import { call, createKey, json, uniqueTenant } from "./helpers";

describe("JSON depth limit (security)", () => {
  it("security: deep nesting is a 400 JSON_TOO_DEEP problem on every JSON route, never a 5xx", async () => {
    const tenant = uniqueTenant();
    const { key } = await createKey(tenant, ["admin"]);
    const deep = (levels: number) => `{"query":"q","filter":${"[".repeat(levels)}${"]".repeat(levels)}}`;
    for (const path of ["/v1/query", "/v1/search", "/v1/query/batch", "/v1/documents", "/v1/api-keys", "/v1/auth/login"]) {
      for (const levels of [MAX_JSON_DEPTH + 1, 30_000]) {
        const response = await call(path, { auth: key, body: deep(levels) });
        expect(response.status, `${path} ${levels}`).toBe(400);
        expect(response.headers.get("content-type")).toBe("application/problem+json");
        expect((await json(response)).code).toBe("JSON_TOO_DEEP");
      }
    }
  });

  it("happy: brackets inside strings do not count, and ordinary bodies pass", () => {
    expect(maxDepth('{"a":"[[[[{{{{\\"]]]"}', 8)).toBe(1);
    expect(maxDepth('[[{"a":[1]}]]', 8)).toBe(4);
  });
});
