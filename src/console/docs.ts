/**
 * /docs: renders /openapi.json with the Swagger UI bundle the page loads before this module
 * (a classic deferred script runs before module scripts). A file, not an inline script, because
 * the page's Content-Security-Policy allows no inline script. No validator badge: it would send
 * the document to validator.swagger.io.
 */
interface SwaggerUIBundleOptions {
  url: string;
  dom_id: string;
  validatorUrl: null;
  deepLinking: boolean;
  tryItOutEnabled: boolean;
}
declare const SwaggerUIBundle: (options: SwaggerUIBundleOptions) => unknown;

// The page names the document it renders (data-openapi-url), so it reads as what it shows.
const url = document.getElementById("swagger-ui")?.dataset.openapiUrl ?? "/openapi.json";
SwaggerUIBundle({ url, dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true, tryItOutEnabled: false });
