import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { loadConfig } from "../config";
import { getServices } from "../services";

/** Puts the validated configuration and the adapters on the context (built once per isolate). */
export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const config = loadConfig(c.env);
  c.set("config", config);
  c.set("services", getServices(c.env, config));
  await next();
});
