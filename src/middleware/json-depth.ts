import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";

/**
 * Refuses JSON request bodies nested deeper than MAX_JSON_DEPTH objects/arrays with a 400
 * JSON_TOO_DEEP before anything parses or validates them: no schema here needs more than a few
 * levels, and a body of 100,000 `[` must be a client error, never a stack overflow (500). The scan
 * is one pass over the text, skipping strings; the text stays cached for the route's parser.
 */
export const MAX_JSON_DEPTH = 32;

export const jsonDepthLimit = createMiddleware<AppEnv>(async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  if (c.req.method === "GET" || c.req.method === "HEAD" || !/\bjson\b/i.test(type)) return next();
  const depth = maxDepth(await c.req.text(), MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    throw new ApiError("JSON_TOO_DEEP", `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  await next();
});

/** The deepest nesting of objects and arrays in a JSON text, counting no further than `limit + 1`. */
export function maxDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 92)
        i += 1; // backslash: skip the escaped character
      else if (code === 34) inString = false;
    } else if (code === 34) inString = true;
    else if (code === 91 || code === 123) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (code === 93 || code === 125) depth -= 1;
  }
  return deepest;
}
