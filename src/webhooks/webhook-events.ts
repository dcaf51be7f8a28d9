import { z } from "@hono/zod-openapi";
import { type JobView, jobCounts } from "../ingest/job-store";
import { randomHex } from "../shared/hex";

/**
 * What a webhook says and how it is addressed (issue 27), shared by the tenant's object (which
 * records an event when a job finishes), the route (which registers targets) and the delivery
 * consumer. Pure: no binding, no I/O.
 */

/** The events a webhook can subscribe to: a job finished with every document indexed or skipped, or with at least one failed. */
export const WEBHOOK_EVENTS = ["job.completed", "job.failed"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The event a finished job's status fires. */
export const eventOf = (status: JobView["status"]): WebhookEvent => (status === "failed" ? "job.failed" : "job.completed");

/** Failed documents a payload lists at most (the job's page lists up to 1,000; the count is always whole). */
export const PAYLOAD_ERRORS = 100;

/**
 * The body of a delivery: Standard Webhooks' `{type, timestamp, data}`, `data` the job as
 * GET /v1/jobs/{id} shows it (its `id` named `job_id`), its errors cut to PAYLOAD_ERRORS.
 * Recorded once with the event, so every attempt of a delivery sends the same bytes.
 */
export function jobEventPayload(job: JobView, event: WebhookEvent, now: number): string {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return JSON.stringify({
    type: event,
    timestamp: iso(now),
    data: {
      job_id: job.id,
      ...jobCounts(job),
      errors: job.errors.slice(0, PAYLOAD_ERRORS),
      index_version: job.index_version,
      created_at: iso(job.created_at),
      finished_at: iso(job.finished_at ?? job.updated_at),
    },
  });
}

export const WEBHOOK_ID = /^wh_[0-9a-f]{32}$/;
export const newWebhookId = () => `wh_${randomHex(16)}`;
/** A delivery's id: the `webhook-id` header of each of its attempts, which receivers dedupe on. */
export const newDeliveryId = () => `msg_${randomHex(16)}`;

/** A signing secret in the form `standardwebhooks` reads: `whsec_` and 32 random bytes, base64. */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

/**
 * Why `url` cannot be a delivery target, or null when it can: an absolute http(s) URL without
 * credentials, https once deployed (a tenant's events and our signatures cross it); plain http is
 * allowed only locally and in tests, where receivers listen on loopback.
 */
export function webhookUrlProblem(url: string, options: { deployed: boolean }): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "must be an absolute URL";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return "must be an http(s) URL";
  if (parsed.username !== "" || parsed.password !== "") return "must not carry credentials (user:password@)";
  if (options.deployed && parsed.protocol !== "https:") return "must be https";
  return null;
}

/** The webhook queue's message: a delivery to attempt, read whole from the tenant's object when it is. */
export const WebhookMessageSchema = z.lazy(() =>
  z.object({ v: z.literal(1), tenant: z.string().min(1).max(64), delivery_id: z.string().regex(/^msg_[0-9a-f]{32}$/) }),
);
export type WebhookMessage = z.infer<typeof WebhookMessageSchema>;
