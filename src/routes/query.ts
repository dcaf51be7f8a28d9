import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";

// Placeholder: the query routes are being built.
export const queryRoutes = new OpenAPIHono<AppEnv>();
