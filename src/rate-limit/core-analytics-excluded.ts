/**
 * Stands in for `@upstash/core-analytics` in the worker bundle (wrangler.toml `[alias]`).
 * @upstash/ratelimit imports it for its optional analytics, which src/rate-limit/upstash-rate-limiter.ts
 * turns off (`analytics: false`), so it is never constructed; if a change ever turned it on, this
 * fails loudly instead of shipping ~2 KiB gzip of code (and its Lua scripts) that is never used.
 */
export class Analytics {
  constructor() {
    throw new Error("@upstash/core-analytics is not bundled in the worker: keep `analytics: false` on Ratelimit");
  }
}
