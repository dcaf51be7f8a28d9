import { createAppShell } from "./app-shell";
import { apiKeyRoutes } from "./routes/api-keys";
import { authRoutes } from "./routes/auth";
import { cacheRoutes } from "./routes/cache";
import { documentRoutes } from "./routes/documents";
import { jobRoutes } from "./routes/jobs";
import { mcpRoutes } from "./routes/mcp";
import { meRoutes } from "./routes/me";
import { metricsRoutes } from "./routes/metrics";
import { queryRoutes } from "./routes/query";
import { queryBatchRoutes } from "./routes/query-batch";
import { searchRoutes } from "./routes/search";
import { statsRoutes } from "./routes/stats";
import type { ServicesFactory } from "./services";
import { VERSION } from "./version";

/**
 * Builds the worker's whole HTTP API over a services factory (the production entry's, the local
 * one's, or a test's): every route group on the app shell (middleware, health, static pages, the
 * problem renderer), and /openapi.json describing them all. The deployed worker loads this module on
 * the first request that is not a query (worker.ts says why); tests and tools import it directly.
 */
export function createApp(services: ServicesFactory) {
  // The order of the groups is the order of the paths in /openapi.json (and in the CLI's generated types).
  const app = createAppShell(services, [
    authRoutes,
    meRoutes,
    apiKeyRoutes,
    queryRoutes,
    queryBatchRoutes,
    searchRoutes,
    documentRoutes,
    jobRoutes,
    statsRoutes,
    cacheRoutes,
    metricsRoutes,
    mcpRoutes,
  ]);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "edge-rag", version: VERSION, description: "Retrieval-augmented generation over your documents, from the edge." },
    // Relative: the worker that serves this document (local stack, staging or production).
    servers: [{ url: "/", description: "the worker that serves this document" }],
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", { type: "apiKey", in: "header", name: "X-API-Key" });
  app.openAPIRegistry.registerComponent("securitySchemes", "scrapeToken", {
    type: "http",
    scheme: "bearer",
    description: "GET /metrics only: the METRICS_SCRAPE_TOKEN secret, presented as a bearer token",
  });
  return app;
}
