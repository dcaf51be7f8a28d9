import { beforeEach } from "vitest";

/**
 * Rate-limit tests count to a small limit in an hour's sliding window (`"3/1h"`). Upstash's sliding
 * window weighs the last window's count by the share of it still in view, rounded down: a test that
 * crosses the hour sees its earlier hits all but forgotten and is allowed again. So no test starts
 * in the hour's last seconds; at most one such wait per hour the suite runs through.
 */
const WINDOW_MS = 3_600_000;
const MARGIN_MS = 20_000;

beforeEach(async () => {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < MARGIN_MS) await new Promise((resolve) => setTimeout(resolve, left + 50));
});
