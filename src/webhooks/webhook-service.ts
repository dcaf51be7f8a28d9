import { type Config, isDeployed } from "../config";
import { quotaExceeded, validationFailed } from "../errors";
import { log as defaultLog } from "../logger";
import type { DeliveryView, WebhookView } from "../tenant/tenant-data";
import type { TenantDataFor } from "../tenant/tenant-data-port";
import { newWebhookId, newWebhookSecret, type WebhookEvent, type WebhookMessage, webhookUrlProblem } from "./webhook-events";

/**
 * The webhooks use case (issue 27), built once in `createServices`: the routes register, list and
 * delete a tenant's webhooks and read their deliveries; the webhook queue's consumer attempts each
 * delivery. Registrations and deliveries live in the tenant's own object (shard 0); the object
 * records a job's event when the job finishes, and enqueues it.
 *
 * Promise: `create` stores nothing unless the URL is acceptable (http(s), no credentials, https
 * when deployed) and the tenant is under TENANT_MAX_WEBHOOKS; the secret it returns is never
 * returned again. `attempt` POSTs a delivery's recorded body, signed per Standard Webhooks
 * (`webhook-id` the delivery's id on every attempt, `webhook-timestamp` the attempt's time,
 * `webhook-signature` over both and the body), never following a redirect, within
 * WEBHOOK_TIMEOUT_MS; it records the attempt (status code or error, never the secret) and says
 * whether to retry: a 2xx is delivered, anything else is retried after
 * WEBHOOK_RETRY_BASE_SECONDS·2^(n−1) (capped at an hour) until WEBHOOK_MAX_ATTEMPTS, then failed.
 * Failure modes: VALIDATION_FAILED and QUOTA_EXCEEDED (nothing stored), STORE_UNAVAILABLE (the
 * tenant's object; `attempt` then rejects and the message is retried). Latency: one RPC to the
 * tenant's object per call; `attempt` two, plus the POST.
 */
export interface WebhookService {
  create(tenant: string, request: { url: string; events: WebhookEvent[] }): Promise<{ webhook: WebhookView; secret: string }>;
  list(tenant: string): Promise<WebhookView[]>;
  /** Null for an unknown id (another tenant's included). */
  get(tenant: string, id: string): Promise<WebhookView | null>;
  remove(tenant: string, id: string): Promise<boolean>;
  /** A page of the webhook's deliveries, newest first; null when the tenant has no such webhook. */
  deliveries(
    tenant: string,
    id: string,
    page: { before?: number; limit: number },
  ): Promise<{ deliveries: DeliveryView[]; nextBefore: number | null } | null>;
  /** One attempt of a queued delivery, recorded; what the consumer does with its message. */
  attempt(message: WebhookMessage): Promise<AttemptOutcome>;
}

export type AttemptOutcome =
  | { outcome: "delivered" | "failed" | "settled" | "gone"; attempts?: number }
  | { outcome: "retry"; attempts: number; delaySeconds: number };

export interface WebhookServiceDeps {
  tenantData: TenantDataFor;
  config: Pick<
    Config,
    "ENVIRONMENT" | "WEBHOOK_MAX_ATTEMPTS" | "WEBHOOK_RETRY_BASE_SECONDS" | "WEBHOOK_TIMEOUT_MS" | "TENANT_MAX_WEBHOOKS"
  >;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The longest wait between two attempts. */
export const WEBHOOK_RETRY_MAX_SECONDS = 3_600;

/** The wait after the `attempts`-th failed attempt (1-based): base·2^(n−1), capped at an hour. */
export const webhookRetryDelaySeconds = (attempts: number, baseSeconds: number) =>
  Math.min(WEBHOOK_RETRY_MAX_SECONDS, baseSeconds * 2 ** Math.max(0, attempts - 1));

export function createWebhookService(deps: WebhookServiceDeps): WebhookService {
  const { tenantData, config } = deps;
  const now = deps.now ?? Date.now;
  const send = deps.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  /** One POST: the status code, or the error that stopped it (what a client may read: no secret, no body). */
  const post = async (
    url: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ statusCode: number | null; error: string | null }> => {
    try {
      const response = await send(url, {
        method: "POST",
        headers,
        body,
        // A redirect is not followed: a 3xx counts as a failed attempt.
        redirect: "manual",
        signal: AbortSignal.timeout(config.WEBHOOK_TIMEOUT_MS),
      });
      await response.body?.cancel();
      const { status } = response;
      if (status >= 200 && status < 300) return { statusCode: status, error: null };
      if (status >= 300 && status < 400)
        return { statusCode: status, error: `the target answered a redirect (HTTP ${status}); redirects are not followed` };
      return { statusCode: status, error: `the target answered HTTP ${status}` };
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      if (name === "TimeoutError" || name === "AbortError")
        return { statusCode: null, error: `no answer within ${config.WEBHOOK_TIMEOUT_MS} ms` };
      const message = error instanceof Error ? error.message.slice(0, 200) : "unknown error";
      return { statusCode: null, error: `the request failed: ${message}` };
    }
  };

  return {
    async create(tenant, { url, events }) {
      const problem = webhookUrlProblem(url, { deployed: isDeployed(config) });
      if (problem) throw validationFailed([{ path: "url", message: problem }]);
      const secret = newWebhookSecret();
      const max = config.TENANT_MAX_WEBHOOKS;
      const result = await tenantData(tenant).createWebhook({
        id: newWebhookId(),
        url,
        events: [...new Set(events)],
        secret,
        max,
        now: now(),
      });
      if (!result.ok) throw quotaExceeded("webhooks", max, result.count, `the tenant already has ${max} webhooks; delete one first`);
      return { webhook: result.webhook, secret };
    },

    list: (tenant) => tenantData(tenant).listWebhooks(),
    get: (tenant, id) => tenantData(tenant).webhook(id),
    remove: (tenant, id) => tenantData(tenant).deleteWebhook(id),
    deliveries: (tenant, id, page) => tenantData(tenant).listDeliveries(id, page),

    async attempt({ tenant, delivery_id }) {
      const store = tenantData(tenant);
      const delivery = await store.deliveryToSend(delivery_id);
      if (!delivery) {
        defaultLog.info("webhook delivery dropped: its webhook was deleted", { tenant, delivery_id });
        return { outcome: "gone" };
      }
      // A redelivered message of a delivery already settled.
      if (delivery.status !== "pending") return { outcome: "settled", attempts: delivery.attempts };
      const sentAt = new Date(now());
      // Loaded on the first delivery: the queue consumer's, never on a request's path or at startup.
      const { Webhook } = await import("standardwebhooks");
      const signature = new Webhook(delivery.secret).sign(delivery.id, sentAt, delivery.payload);
      const { statusCode, error } = await post(
        delivery.url,
        {
          "content-type": "application/json",
          "user-agent": "edge-rag-webhooks/1",
          "webhook-id": delivery.id,
          "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
          "webhook-signature": signature,
        },
        delivery.payload,
      );
      const recorded = await store.recordDeliveryAttempt(delivery.id, {
        delivered: error === null,
        statusCode,
        error,
        maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
        now: now(),
      });
      if (!recorded) {
        defaultLog.info("webhook delivery dropped: its webhook was deleted", { tenant, delivery_id });
        return { outcome: "gone" };
      }
      if (recorded.status === "delivered") return { outcome: "delivered", attempts: recorded.attempts };
      if (recorded.status === "failed") {
        defaultLog.warn("webhook delivery failed for good", {
          tenant,
          delivery_id,
          webhook_id: delivery.webhook_id,
          attempts: recorded.attempts,
          error,
        });
        return { outcome: "failed", attempts: recorded.attempts };
      }
      return {
        outcome: "retry",
        attempts: recorded.attempts,
        delaySeconds: webhookRetryDelaySeconds(recorded.attempts, config.WEBHOOK_RETRY_BASE_SECONDS),
      };
    },
  };
}
