/**
 * The production bundle's "zod" (wrangler.toml [env.*] alias): zod's own API minus `locales`, the
 * error messages in ~50 languages (~260 KiB of minified code, ~40 % of the bundle). zod ships them
 * behind `z.locales` / `z.core.locales`, and @hono/zod-openapi passes the whole `z` namespace to
 * extendZodWithOpenApi, so no bundler can drop them; nothing here uses another language than the
 * default English one (registered by zod's schemas themselves). Same modules, same classes: only
 * the two namespace members are missing, which test/worker/zod-lean.test.ts checks against zod.
 */
import * as z from "./external";

export * from "./external";
export { z, z as default };
