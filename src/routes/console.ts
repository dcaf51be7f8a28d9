/**
 * The browser console: GET /console (the page) and GET /console/<file> (its script, styles and
 * icon), static files built by tools/console/build.ts into dist/assets/console and deployed as
 * Workers Static Assets. The worker runs first for every request (wrangler.toml `[assets]`
 * run_worker_first) and reads them through the ASSETS binding, so they pass through the same
 * middleware as the API (request id, CORS allow-list) and get the page security headers below.
 *
 * Promise: only files of the page's own folder are reachable (a file name, no path), and every
 * response of a page route carries PAGE_CSP: scripts, styles, images and API calls from this origin
 * only, no inline script, no framing.
 * Failure modes: a file that is not in the deployed assets, or no ASSETS binding (an app built
 * for a test without it) → 404 problem. Nothing here touches D1, KV or the origin.
 * Latency: one read from the assets store (same location as the worker), with ETag revalidation.
 */

import type { Context } from "hono";
import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../app-env";
import { notFound } from "../errors";

/** One policy for the console and /docs: this origin only, nothing inline, never framed. */
export const PAGE_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  // Swagger UI's stylesheet draws its icons as data: SVGs; nothing else needs data: URLs.
  imgSrc: ["'self'", "data:"],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** Hono's secure headers (nosniff, no referrer, HSTS, COOP/CORP same-origin…) with PAGE_CSP, no framing. */
export const pageSecurityHeaders = secureHeaders({ contentSecurityPolicy: PAGE_CSP, xFrameOptions: "DENY" });

/** A file name of the page's folder: no slash, no leading dot, so never a path out of it. */
export const ASSET_FILE = "{[A-Za-z0-9_-][A-Za-z0-9_.-]*}";

/**
 * Answers with `folder/file` from the static assets. Revalidation headers go through, so a
 * browser's If-None-Match gets a 304. The headers are copied: the assets' response is immutable,
 * and the middleware adds its own.
 */
export async function serveAsset(c: Context<AppEnv>, folder: string, file: string): Promise<Response> {
  const assets = c.env.ASSETS as Fetcher | undefined;
  if (!assets) throw notFound(`${c.req.method} ${c.req.path}`);
  const headers = new Headers();
  for (const name of ["if-none-match", "if-modified-since"]) {
    const value = c.req.header(name);
    if (value) headers.set(name, value);
  }
  const response = await assets.fetch(new URL(`/${folder}/${file}`, c.req.url), { method: c.req.method, headers });
  if (response.status === 404) {
    await response.body?.cancel();
    throw notFound(`${c.req.method} ${c.req.path}`);
  }
  return new Response(response.body, response);
}

export const consoleRoutes = new Hono<AppEnv>()
  .use("/console", pageSecurityHeaders)
  .use("/console/*", pageSecurityHeaders)
  .get("/console", (c) => serveAsset(c, "console", "index.html"))
  .get(`/console/:file${ASSET_FILE}`, (c) => serveAsset(c, "console", c.req.param("file")));
