import type { Context } from "hono";
import type { z } from "zod";
import { AppError } from "../errors.ts";

/**
 * Reads and validates a JSON body: 415 unless the content type is JSON, 400 for broken JSON or a body
 * that does not match the schema (the detail names the offending fields, never echoes their values).
 * The size limit is enforced earlier, by the body-limit middleware (413).
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json.");
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    if (err instanceof AppError) throw err; // e.g. the body limit tripped while reading
    throw new AppError("VALIDATION_FAILED", "The body is not valid JSON.");
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${formatPath(issue.path) || "body"}: ${issue.message}`)
      .join("; ");
    throw new AppError("VALIDATION_FAILED", detail);
  }
  return parsed.data;
}

function formatPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}
