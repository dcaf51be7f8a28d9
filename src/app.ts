import { createAppShell } from "./app-shell";
import { createApiKeyRoutes } from "./routes/api-keys";
import { createAuthRoutes } from "./routes/auth";
import { createCacheRoutes } from "./routes/cache";
import { createChatRoutes } from "./routes/chat";
import { createDocumentRoutes } from "./routes/documents";
import { createJobRoutes } from "./routes/jobs";
import { createMcpRoutes } from "./routes/mcp";
import { createMeRoutes } from "./routes/me";
import { createMetricsRoutes } from "./routes/metrics";
import { createQueryRoutes } from "./routes/query";
import { createQueryBatchRoutes } from "./routes/query-batch";
import { createSearchRoutes } from "./routes/search";
import { createStatsRoutes } from "./routes/stats";
import { createSyncRoutes } from "./routes/sync";
import { createTenantRoutes } from "./routes/tenants";
import { createWebhookRoutes } from "./routes/webhooks";
import type { ServicesFactory } from "./services";
import { VERSION } from "./version";

/**
 * Builds the worker's whole HTTP API over a services factory (the production entry's, the local
 * one's, or a test's): every route group on the app shell (middleware, health, static pages, the
 * problem renderer), and /openapi.json describing them all. The groups other than the query routes
 * are built here, by their factories, not when their modules load: the deployed worker calls this
 * on its first request that is not a query (worker.ts says why).
 */
export function createApp(services: ServicesFactory) {
  // The order of the groups is the order of the paths in /openapi.json (and in the CLI's generated types).
  const app = createAppShell(services, [
    createAuthRoutes(),
    createMeRoutes(),
    createApiKeyRoutes(),
    createQueryRoutes(),
    createQueryBatchRoutes(),
    createSearchRoutes(),
    createChatRoutes(),
    createDocumentRoutes(),
    createSyncRoutes(),
    createJobRoutes(),
    createWebhookRoutes(),
    createStatsRoutes(),
    createCacheRoutes(),
    createMetricsRoutes(),
    createTenantRoutes(),
    createMcpRoutes(),
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
