import { Hono } from "hono";
import { CondenseRequestSchema } from "../../../src/shared/origin-contract.ts";
import type { AppEnv } from "../app-env.ts";
import { readJson } from "../middleware/json-body.ts";

/** POST /v1/condense: the standalone question for a conversation's last user message (generation/condenser.ts). */
export const condenseRoutes = new Hono<AppEnv>().post("/v1/condense", async (c) => {
  const { condenser, generator } = c.get("services");
  const body = await readJson(c, CondenseRequestSchema);
  const result = await condenser.condense(body.history, body.question, c.req.raw.signal);
  return c.json({ ...result, ...(result.method === "llm" ? { model: generator.model } : {}) });
});
