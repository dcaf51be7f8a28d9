import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env.ts";
import { AppError } from "../errors.ts";

/** `?filename=`: the file's name, for its extension where the Content-Type names no type. */
const FilenameSchema = z.string().min(1).max(255).optional();

/**
 * POST /v1/parse: the body is the file's bytes, its Content-Type the file's type (its charset for
 * text), `?filename=` its name; the answer is its text as located blocks (ParseResponseSchema).
 * The body limit is PARSE_MAX_BYTES (413), set for this route in app.ts.
 */
export const parseRoutes = new Hono<AppEnv>().post("/v1/parse", async (c) => {
  const filename = FilenameSchema.safeParse(c.req.query("filename"));
  if (!filename.success) throw new AppError("VALIDATION_FAILED", "filename: must be 1 to 255 characters.");
  const parsed = await c.get("services").parser.parse({
    read: async () => new Uint8Array(await c.req.arrayBuffer()),
    contentType: c.req.header("content-type"),
    filename: filename.data,
  });
  return c.json(parsed);
});
