import { Redis, type Requester } from "@upstash/redis/cloudflare";

/**
 * The worker's Upstash Redis clients: @upstash/redis (the card's library) over Upstash's REST API.
 *
 * Promise: every command is one HTTPS round trip to the database's region (a few ms in-region),
 * answered or failed within `timeoutMs` (the deadline covers the retry too). Failure modes: a
 * command Redis refused, a status other than 2xx (wrong token, outage), a body that is not
 * Upstash's JSON, a request that never completed (retried `retries` times after 50 ms, only then),
 * the deadline passing. The library's errors quote the whole command ("command was: [...]": keys
 * hold tenant ids and client IPs); `upstashFailure` keeps only the error, so a log never gets them.
 */
export interface UpstashClientOptions {
  url: string;
  token: string;
  /** Deadline of one call, retry and backoff included. */
  timeoutMs: number;
  /** Retries after a network failure (0 or 1 is sensible: the caller is waiting). */
  retries: number;
  /**
   * Values back as Redis stored them (the cache tier's JSON text must stay text); otherwise the
   * library parses each value as JSON, which its rate limiter expects.
   */
  rawValues?: boolean;
  /**
   * Wraps the library's transport (one `request` per round trip, pipelines included): the local
   * entry's WAN delay layer, and tests that count or hold round trips. Production passes none.
   */
  wrapTransport?: UpstashTransportWrapper;
}

export type UpstashTransport = Requester;
export type UpstashTransportWrapper = (transport: UpstashTransport) => UpstashTransport;

/** The library's Cloudflare client, with its transport wrapped when a wrapper is given. */
class WrappableRedis extends Redis {
  constructor(config: ConstructorParameters<typeof Redis>[0], wrap?: UpstashTransportWrapper) {
    super(config);
    if (wrap) this.client = wrap(this.client);
  }
}

export function createUpstashRedis(options: UpstashClientOptions): Redis {
  return new WrappableRedis(
    {
      url: options.url,
      token: options.token,
      retry: { retries: options.retries, backoff: () => 50 },
      // A function: a new deadline per call, and the library throws when it passes (with a fixed
      // signal it would answer "Aborted" as if it were the command's result).
      signal: () => AbortSignal.timeout(options.timeoutMs),
      automaticDeserialization: !options.rawValues,
      enableTelemetry: false,
      latencyLogging: false,
      // Auto-pipelining batches concurrent requests' commands into one fetch made by one of them: the
      // others would await another request's I/O, which Workers forbid.
      enableAutoPipelining: false,
    },
    options.wrapTransport,
  );
}

/**
 * The library's error without the command it quotes (keys hold tenant ids and client IPs) and
 * without anything that names the credentials.
 */
export function upstashFailure(error: unknown, secrets: readonly string[] = []): Error {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const kept = text.split(", command was:")[0]!;
  const scrubbed = secrets.filter(Boolean).reduce((out, secret) => out.split(secret).join("[redacted]"), kept);
  const failure = new Error(scrubbed.slice(0, 200));
  failure.name = "UpstashFailure";
  return failure;
}
