/**
 * GET /docs: the API reference page (Swagger UI over /openapi.json), served from this worker's
 * static assets (dist/assets/docs, copied from the swagger-ui-dist package the lockfile pins by
 * tools/console/build.ts). It used to load an unpinned Swagger UI from a public CDN: blank offline,
 * and a third party's script ran on the page where people paste API keys. Now nothing on the page
 * comes from anywhere but this origin, and PAGE_CSP says so to the browser.
 *
 * Promise and failure modes: those of console.ts (same policy, same 404 for a missing file).
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { ASSET_FILE, pageSecurityHeaders, serveAsset } from "./console";

export const docsRoutes = new Hono<AppEnv>()
  .use("/docs", pageSecurityHeaders)
  .use("/docs/*", pageSecurityHeaders)
  .get("/docs", (c) => serveAsset(c, "docs", "index.html"))
  .get(`/docs/:file${ASSET_FILE}`, (c) => serveAsset(c, "docs", c.req.param("file")));
