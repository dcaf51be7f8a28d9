import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";

// Placeholder: the stats routes are being built.
export const statsRoutes = new OpenAPIHono<AppEnv>();
