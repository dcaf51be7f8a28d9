import type { Stack } from "../stack/stack";

/**
 * What the benchmark runs against: a worker URL and a key that may ingest and query (admin, or
 * writer + reader). With the local stack it also reaches the origin directly (the raw embedder
 * rate), can stop and restart it (degraded queries), and knows the processes to sample memory of;
 * against a remote deployment those parts are skipped and the report says so.
 */
export interface Target {
  url: string;
  key: string;
  /** The origin and the secret worker tokens are signed with. */
  origin?: { url: string; jwtSecret: string };
  /** Only for the local stack. */
  stack?: Stack;
}

export const jsonPost = (target: Target, path: string, body: unknown): Promise<Response> =>
  fetch(`${target.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${target.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
