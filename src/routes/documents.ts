import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";

// Placeholder: the documents routes are being built.
export const documentRoutes = new OpenAPIHono<AppEnv>();
