import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, callWithEnv, json } from "./helpers";

/**
 * The console (/console) and the API docs page (/docs) as the worker serves them from Workers
 * Static Assets (the real ASSETS binding over dist/assets, built by tools/console/build.ts):
 * the Content-Security-Policy that allows only this origin, the API's own headers (request id,
 * CORS allow-list), only same-origin files referenced, and nothing outside the pages' folders.
 * The browser half (the pages work under that policy, offline) is test/e2e/console.e2e.test.ts.
 */
const CSP_DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
];

function expectPageHeaders(response: Response) {
  const csp = response.headers.get("content-security-policy") ?? "";
  for (const directive of CSP_DIRECTIVES) expect(csp, csp).toContain(directive);
  // Nothing third-party or inline anywhere in the policy.
  expect(csp).not.toMatch(/https?:|unsafe-inline|unsafe-eval|\*/);
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("x-frame-options")).toBe("DENY");
  expect(response.headers.get("referrer-policy")).toBe("no-referrer");
  expect(response.headers.get("x-request-id")).toEqual(expect.any(String));
}

/** Every src/href in a page but in-page anchors (#main): each must be a same-origin absolute path. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((match) => match[1]!).filter((url) => !url.startsWith("#"));
}

const PAGES = [
  { path: "/console", folder: "console", files: ["/console/console.js", "/console/console.css", "/console/icon.svg"] },
  {
    path: "/docs",
    folder: "docs",
    files: ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs.js", "/docs/docs.css", "/docs/icon.svg"],
  },
];

describe.each(PAGES)("$path", ({ path, files }) => {
  it("happy: the page is HTML with the page security headers", async () => {
    const response = await call(path);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expectPageHeaders(response);
  });

  it("security: the page references only same-origin files, each served with the same policy", async () => {
    const html = await (await call(path)).text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/\sstyle="/); // no inline style (style-src 'self')
    const urls = referencedUrls(html);
    expect(urls.sort()).toEqual([...files].sort());
    for (const url of urls) {
      expect(url).toMatch(/^\/(console|docs)\/[A-Za-z0-9_.-]+$/);
      const response = await call(url);
      expect(response.status, url).toBe(200);
      expectPageHeaders(response);
      const type = response.headers.get("content-type") ?? "";
      if (url.endsWith(".js")) expect(type).toMatch(/javascript/);
      if (url.endsWith(".css")) expect(type).toMatch(/^text\/css/);
      expect((await response.arrayBuffer()).byteLength, url).toBeGreaterThan(0);
    }
  });

  it("happy: a revalidation with the ETag answers 304", async () => {
    const first = await call(files[0]!);
    await first.arrayBuffer();
    const etag = first.headers.get("etag");
    expect(etag).toBeTruthy();
    const again = await call(files[0]!, { headers: { "if-none-match": etag! } });
    expect(again.status).toBe(304);
    expectPageHeaders(again);
  });
});

describe("static pages: what is not there", () => {
  it.each([
    "/console/missing.js",
    "/docs/swagger-ui-bundle.js.map",
    "/console/.hidden",
    "/console/..%2Fdocs%2Fdocs.js",
    "/console/%2e%2e%2fwrangler.toml",
    "/docs/../console/console.js/x",
    "/console.js",
    "/docs/index.html/",
  ])("error: %s is a 404 problem, with the page headers", async (path) => {
    const response = await call(path);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await json(response)).toMatchObject({ code: "NOT_FOUND", status: 404 });
  });

  it("error: without the ASSETS binding (a test app) the pages are 404, not a crash", async () => {
    const response = await callWithEnv({ ASSETS: undefined }, "/console");
    expect(response.status).toBe(404);
    expectPageHeaders(response);
  });

  it("security: the API's CORS allow-list applies to the pages as to the API", async () => {
    const allowed = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/docs", {
      headers: { origin: "https://app.example.com" },
    });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const denied = await callWithEnv({ CORS_ALLOWED_ORIGINS: "https://app.example.com" }, "/console", {
      headers: { origin: "https://evil.example" },
    });
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("happy: the API itself is unchanged by the pages (JSON, no page policy)", async () => {
    const response = await call("/openapi.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toBeNull();
    expect(env.ASSETS).toBeDefined();
  });
});
