import type { Bindings } from "../bindings";
import { retryDelaySeconds } from "../ingest/consumer";
import { errorFields, log } from "../logger";
import { mapWithConcurrency } from "../query/concurrency";
import type { ServicesFactory } from "../services";
import { WebhookMessageSchema } from "./webhook-events";

/**
 * The webhook queue's consumer: one attempt of a delivery per message (WebhookService.attempt).
 * Delivered, failed for good (WEBHOOK_MAX_ATTEMPTS made), already settled (a redelivered message)
 * or gone (its webhook deleted): acked. A failed attempt with attempts left: retried with the
 * service's backoff (`message.retry({ delaySeconds })`). The tenant's object failing: the message
 * is retried with the ingest consumer's backoff, the attempt not counted (the POST may have
 * happened; the receiver dedupes on webhook-id).
 *
 * No dead-letter queue: the consumer itself marks a delivery failed at its last attempt, and
 * wrangler.toml's max_retries (10: 11 deliveries) is above WEBHOOK_MAX_ATTEMPTS' ceiling, so
 * Queues drops a message before the consumer settles it only when the tenant's object failed on
 * several of its deliveries; that delivery then stays `pending` in its log with its last error.
 */

/** Messages of a batch attempted at once, each holding one outgoing connection at a time (under the 6 an invocation may open). */
const DELIVERY_CONCURRENCY = 5;

export const isWebhookQueue = (queue: string) => /(^|-)webhooks($|-)/.test(queue);

export async function handleWebhookBatch(batch: MessageBatch<unknown>, env: Bindings, servicesFor: ServicesFactory): Promise<void> {
  let services: ReturnType<ServicesFactory>;
  try {
    services = servicesFor(env);
  } catch (error) {
    log.error("webhook consumer cannot start", errorFields(error));
    batch.retryAll({ delaySeconds: retryDelaySeconds(Math.max(...batch.messages.map((m) => m.attempts), 1)) });
    return;
  }
  await mapWithConcurrency(batch.messages, DELIVERY_CONCURRENCY, async (message) => {
    const parsed = WebhookMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      log.error("webhook message malformed; dropped", { message_id: message.id });
      message.ack();
      return;
    }
    try {
      const result = await services.webhooks.attempt(parsed.data);
      if (result.outcome === "retry") message.retry({ delaySeconds: result.delaySeconds });
      else message.ack();
    } catch (error) {
      log.warn("webhook delivery could not be attempted; retrying", {
        tenant: parsed.data.tenant,
        delivery_id: parsed.data.delivery_id,
        ...errorFields(error),
      });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  });
}
