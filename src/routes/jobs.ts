import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";

// Placeholder: the jobs routes are being built.
export const jobRoutes = new OpenAPIHono<AppEnv>();
