/** Secrets of the test worker and its origin. Test-only values, never used outside tests. */
export const TEST_SECRETS = {
  AUTH_JWT_SECRET: "test-auth-secret-0123456789abcdef0123456789abcdef",
  ORIGIN_JWT_SECRET: "test-origin-secret-0123456789abcdef0123456789abcdef",
  METRICS_SCRAPE_TOKEN: "test-scrape-token-0123456789",
} as const;
