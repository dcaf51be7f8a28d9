import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { notFound } from "../errors";
import { authenticate } from "../middleware/authenticate";
import { chargeRoute } from "../middleware/rate-limit";
import { authErrors, jsonBody, jsonResponse, notFoundError, pageQuery, quotaErrors, security, validationErrors } from "../schemas";
import type { DeliveryView, WebhookView } from "../tenant/tenant-data";
import { WEBHOOK_EVENTS, WEBHOOK_ID } from "../webhooks/webhook-events";

/** A tenant's webhooks (admin): register, list, read, delete, and each one's deliveries. */
export function createWebhookRoutes() {
  const webhookRoutes = new OpenAPIHono<AppEnv>();

  const EventSchema = z.enum(WEBHOOK_EVENTS);

  const CreateWebhookSchema = z
    .strictObject({
      url: z.string().max(2048).openapi({
        description: "Where deliveries are POSTed: https (plain http only on the local stack), no credentials in it",
        example: "https://example.com/hooks/edge-rag",
      }),
      events: z.array(EventSchema).min(1).max(WEBHOOK_EVENTS.length).openapi({
        description: "job.completed: a job finished with every document indexed or skipped; job.failed: with at least one failed",
      }),
    })
    .openapi("CreateWebhook");

  const WebhookSchema = z
    .object({ id: z.string(), url: z.string(), events: z.array(EventSchema), created_at: z.string() })
    .openapi("Webhook");

  const CreatedWebhookSchema = WebhookSchema.extend({
    secret: z.string().openapi({
      description: "The signing secret (`whsec_…`, as the standardwebhooks libraries read it): shown only in this response",
    }),
  }).openapi("CreatedWebhook");

  const DeliverySchema = z
    .object({
      id: z.string().openapi({ description: "The delivery's webhook-id header, the same on every attempt (receivers dedupe on it)" }),
      event: EventSchema,
      job_id: z.string(),
      status: z.enum(["pending", "delivered", "failed"]).openapi({
        description: "pending: queued or waiting for a retry; delivered: a 2xx answered; failed: every attempt failed",
      }),
      attempts: z.number().int(),
      last_status_code: z.number().int().nullable().openapi({ description: "The last attempt's HTTP status; null when it got none" }),
      last_error: z.string().nullable().openapi({ description: "Why the last attempt failed; null once delivered" }),
      created_at: z.string(),
      delivered_at: z.string().nullable(),
    })
    .openapi("WebhookDelivery");

  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const present = (webhook: WebhookView) => ({ ...webhook, created_at: iso(webhook.created_at)! });
  const presentDelivery = (delivery: DeliveryView) => ({
    ...delivery,
    created_at: iso(delivery.created_at)!,
    delivered_at: iso(delivery.delivered_at),
  });

  const IdParams = z.object({
    id: z
      .string()
      .regex(WEBHOOK_ID, "not a webhook id")
      .openapi({ param: { name: "id", in: "path" } }),
  });

  // Rate-limited in each handler, after validation: an invalid request costs no token.
  const admin = [authenticate({ role: "admin" })];

  const create = createRoute({
    method: "post",
    path: "/v1/webhooks",
    operationId: "createWebhook",
    summary: "Register a webhook for job events; its signing secret is shown only in this response",
    description:
      "Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp and webhook-signature headers). A URL that is not http(s), carries credentials, or is plain http on a deployed worker is refused (400). A tenant has at most TENANT_MAX_WEBHOOKS webhooks (default 10); beyond, 403 QUOTA_EXCEEDED.",
    security,
    middleware: admin,
    request: { body: jsonBody(CreateWebhookSchema) },
    responses: {
      201: jsonResponse("The webhook, with its secret", CreatedWebhookSchema),
      ...validationErrors,
      ...authErrors,
      ...quotaErrors,
    },
  });

  webhookRoutes.openapi(create, async (c) => {
    const body = c.req.valid("json");
    await chargeRoute(c, "auth");
    const { webhook, secret } = await c.var.services.webhooks.create(c.var.principal.tenant, body);
    return c.json({ ...present(webhook), secret }, 201);
  });

  const list = createRoute({
    method: "get",
    path: "/v1/webhooks",
    operationId: "listWebhooks",
    summary: "The tenant's webhooks, oldest first (never their secrets)",
    security,
    middleware: admin,
    responses: { 200: jsonResponse("The webhooks", z.object({ webhooks: z.array(WebhookSchema) })), ...authErrors },
  });

  webhookRoutes.openapi(list, async (c) => {
    await chargeRoute(c, "query");
    const webhooks = await c.var.services.webhooks.list(c.var.principal.tenant);
    return c.json({ webhooks: webhooks.map(present) }, 200);
  });

  const read = createRoute({
    method: "get",
    path: "/v1/webhooks/{id}",
    operationId: "getWebhook",
    summary: "One webhook (never its secret)",
    security,
    middleware: admin,
    request: { params: IdParams },
    responses: { 200: jsonResponse("The webhook", WebhookSchema), ...authErrors, ...notFoundError },
  });

  webhookRoutes.openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "query");
    // Another tenant's webhook is indistinguishable from a missing one.
    const webhook = await c.var.services.webhooks.get(c.var.principal.tenant, id);
    if (!webhook) throw notFound(`webhook ${id}`);
    return c.json(present(webhook), 200);
  });

  const remove = createRoute({
    method: "delete",
    path: "/v1/webhooks/{id}",
    operationId: "deleteWebhook",
    summary: "Delete a webhook and its deliveries log; deliveries still queued are dropped",
    security,
    middleware: admin,
    request: { params: IdParams },
    responses: { 204: { description: "Deleted" }, ...authErrors, ...notFoundError },
  });

  webhookRoutes.openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    await chargeRoute(c, "auth");
    if (!(await c.var.services.webhooks.remove(c.var.principal.tenant, id))) throw notFound(`webhook ${id}`);
    return c.body(null, 204);
  });

  // The cursor is the last listed delivery's position, encoded so that clients treat it as opaque.
  const encodeCursor = (seq: number) => btoa(`d:${seq}`).replaceAll("=", "");
  const decodeCursor = (cursor: string) => {
    try {
      const match = /^d:(\d{1,15})$/.exec(atob(cursor));
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  };

  const DeliveriesQuerySchema = z.object({
    ...pageQuery(decodeCursor, 100),
  });

  const deliveries = createRoute({
    method: "get",
    path: "/v1/webhooks/{id}/deliveries",
    operationId: "listWebhookDeliveries",
    summary: "The webhook's deliveries, newest first, a page at a time",
    security,
    middleware: admin,
    request: { params: IdParams, query: DeliveriesQuerySchema },
    responses: {
      200: jsonResponse(
        "A page of deliveries",
        z
          .object({
            deliveries: z.array(DeliverySchema),
            next_cursor: z.string().nullable().openapi({ description: "Pass as cursor for the next page; null on the last page" }),
          })
          .openapi("WebhookDeliveryList"),
      ),
      ...authErrors,
      ...notFoundError,
    },
  });

  webhookRoutes.openapi(deliveries, async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    await chargeRoute(c, "query");
    const page = await c.var.services.webhooks.deliveries(c.var.principal.tenant, id, {
      limit,
      before: cursor === undefined ? undefined : decodeCursor(cursor),
    });
    if (!page) throw notFound(`webhook ${id}`);
    return c.json(
      {
        deliveries: page.deliveries.map(presentDelivery),
        next_cursor: page.nextBefore === null ? null : encodeCursor(page.nextBefore),
      },
      200,
    );
  });
  return webhookRoutes;
}
