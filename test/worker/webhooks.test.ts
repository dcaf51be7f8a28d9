import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, it } from "vitest";
import { localServices } from "../../src/local";
import type { TenantData } from "../../src/tenant/tenant-data";
import { shardOf } from "../../src/tenant/tenant-shards";
import { handleWebhookBatch } from "../../src/webhooks/webhook-consumer";
import type { WebhookMessage } from "../../src/webhooks/webhook-events";
import { call, callWithEnv, createKey, json, tenantObject, tenantSql, uniqueTenant } from "./helpers";
import { ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";
import type { InboxProgram, ReceivedDelivery } from "./webhook-receiver";

/**
 * Webhooks (issue 27) end to end: registration through the API, the tenant's object recording a
 * job's event when the job finishes, the real webhook queue and its consumer, signed POSTs to a
 * receiver on loopback (webhook-receiver.ts, started by the global setup), retries with backoff
 * (1 s, 2 s, 4 s in the test configuration, 4 attempts), and the deliveries log.
 */

const RECEIVER = inject("webhookReceiverUrl");
const EVENTS = ["job.completed", "job.failed"];
let inboxes = 0;
const newInbox = (label = "in") => `${label}-${Date.now().toString(36)}-${inboxes++}`;
const hookUrl = (inbox: string) => `${RECEIVER}/hooks/${inbox}`;

async function program(inbox: string, behaviour: InboxProgram): Promise<void> {
  expect((await fetch(`${RECEIVER}/control/${inbox}`, { method: "POST", body: JSON.stringify(behaviour) })).status).toBe(200);
}

async function received(inbox: string): Promise<ReceivedDelivery[]> {
  return ((await (await fetch(`${RECEIVER}/control/${inbox}`)).json()) as { received: ReceivedDelivery[] }).received;
}

/** Polls `read` until `done` holds, or fails with the last value. */
async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await read();
  }
  return last;
}

async function admin(label = "wh") {
  const tenant = uniqueTenant(label);
  const { key } = await createKey(tenant, ["admin"]);
  return { tenant, key };
}

interface Created {
  id: string;
  url: string;
  events: string[];
  secret: string;
  created_at: string;
}

async function register(key: string, url: string, events: string[] = EVENTS): Promise<Created> {
  const response = await call("/v1/webhooks", { auth: key, body: { url, events } });
  expect(response.status, await response.clone().text()).toBe(201);
  return json<Created>(response);
}

interface DeliveryBody {
  id: string;
  event: string;
  job_id: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

async function deliveries(key: string, webhookId: string, query = ""): Promise<{ deliveries: DeliveryBody[]; next_cursor: string | null }> {
  const response = await call(`/v1/webhooks/${webhookId}/deliveries${query}`, { auth: key });
  expect(response.status, await response.clone().text()).toBe(200);
  return json(response);
}

/** Runs the webhook queue's consumer on one message, as Queues would deliver it; says whether it was acked or retried. */
async function consume(body: WebhookMessage): Promise<{ acked: number; retried: number }> {
  const calls = { acked: 0, retried: 0 };
  const message = {
    id: crypto.randomUUID(),
    timestamp: new Date(),
    body,
    attempts: 1,
    ack: () => void calls.acked++,
    retry: () => void calls.retried++,
  };
  const batch = { queue: "edge-rag-webhooks", messages: [message], ackAll() {}, retryAll() {} } as unknown as MessageBatch<unknown>;
  await handleWebhookBatch(batch, env, localServices);
  return calls;
}

const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

function uploadFiles(key: string, files: Array<{ name: string; type: string; bytes: Uint8Array | string }>): Promise<Response> {
  const form = new FormData();
  for (const file of files) form.append("file", new File([file.bytes], file.name, { type: file.type }));
  return exports.default.fetch(
    new Request("http://edge-rag.test/v1/documents/files", { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form }),
  );
}

describe("webhooks: delivery (happy)", () => {
  it("a finished job's job.completed arrives signed per Standard Webhooks, and its delivery is logged delivered", async () => {
    const { key } = await admin();
    const inbox = newInbox();
    const webhook = await register(key, hookUrl(inbox));
    expect(webhook).toEqual({
      id: expect.stringMatching(/^wh_[0-9a-f]{32}$/),
      url: hookUrl(inbox),
      events: EVENTS,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const { job_id } = await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.glaciers }] });
    const job = await waitForJob(key, job_id);

    const [delivery] = await waitFor(
      () => received(inbox),
      (list) => list.length >= 1,
    );
    // The signature verifies with the secret shown at registration, over the received bytes and headers.
    const payload = new Webhook(webhook.secret).verify(delivery!.body, delivery!.headers) as any;
    expect(payload).toEqual({
      type: "job.completed",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data: {
        job_id,
        status: "done",
        documents: 1,
        processed: 1,
        skipped: 0,
        failed: 0,
        chunks: job.chunks,
        errors: [],
        index_version: expect.any(Number),
        created_at: job.created_at,
        finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    });
    expect(delivery!.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(delivery!.headers["content-type"]).toBe("application/json");
    // Another secret does not verify it: the check above can fail.
    const stranger = await register((await admin()).key, hookUrl(newInbox()));
    expect(() => new Webhook(stranger.secret).verify(delivery!.body, delivery!.headers)).toThrow();

    const log = await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    );
    expect(log).toEqual({
      deliveries: [
        {
          id: delivery!.headers["webhook-id"],
          event: "job.completed",
          job_id,
          status: "delivered",
          attempts: 1,
          last_status_code: 200,
          last_error: null,
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          delivered_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        },
      ],
      next_cursor: null,
    });
  });

  it("a receiver that fails twice then succeeds gets the event three times with one webhook-id, and it is marked delivered", async () => {
    const { key } = await admin();
    const inbox = newInbox("flaky");
    await program(inbox, { fail: 2, failStatus: 503 });
    const webhook = await register(key, hookUrl(inbox), ["job.completed"]);
    const { job_id } = await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.volcano }] });

    const attempts = await waitFor(
      () => received(inbox),
      (list) => list.length >= 3,
    );
    expect(attempts.map((attempt) => attempt.answered)).toEqual([503, 503, 200]);
    const ids = new Set(attempts.map((attempt) => attempt.headers["webhook-id"]));
    expect(ids.size).toBe(1);
    // Every attempt is signed afresh (its own timestamp) over the same body.
    for (const attempt of attempts)
      expect(new Webhook(webhook.secret).verify(attempt.body, attempt.headers)).toMatchObject({ type: "job.completed" });
    expect(new Set(attempts.map((attempt) => attempt.body)).size).toBe(1);

    const log = await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    );
    expect(log.deliveries).toEqual([
      expect.objectContaining({ id: [...ids][0], job_id, status: "delivered", attempts: 3, last_status_code: 200, last_error: null }),
    ]);
  });

  it("job.failed fires for a job whose every file was refused (failed at birth), to its subscribers only", async () => {
    const { key } = await admin();
    const failedInbox = newInbox("failed");
    const completedInbox = newInbox("completed");
    const onFailed = await register(key, hookUrl(failedInbox), ["job.failed"]);
    const onCompleted = await register(key, hookUrl(completedInbox), ["job.completed"]);

    const response = await uploadFiles(key, [
      { name: "locked.pdf", type: "application/pdf", bytes: bytesOf(inject("testFiles").encryptedPdf) },
    ]);
    expect(response.status, await response.clone().text()).toBe(202);
    const { job_id } = await json(response);

    const [delivery] = await waitFor(
      () => received(failedInbox),
      (list) => list.length >= 1,
    );
    const payload = new Webhook(onFailed.secret).verify(delivery!.body, delivery!.headers) as any;
    expect(payload).toMatchObject({
      type: "job.failed",
      data: {
        job_id,
        status: "failed",
        documents: 1,
        processed: 0,
        failed: 1,
        errors: [{ document_id: "locked.pdf", error: expect.any(String) }],
      },
    });
    // Recorded in the transaction that finished the job: the other webhook has no delivery at all.
    expect((await deliveries(key, onCompleted.id)).deliveries).toEqual([]);
    expect(await received(completedInbox)).toEqual([]);
  });

  it("a tenant of several shards gets one event per job, once every shard's part has finished", async () => {
    const tenant = uniqueTenant("wh-sharded");
    await env.DB.prepare("INSERT INTO tenants (tenant, updated_at, shards) VALUES (?1, 0, 3)").bind(tenant).run();
    const { key } = await createKey(tenant, ["admin"]);
    const inbox = newInbox("sharded");
    const webhook = await register(key, hookUrl(inbox));
    const ids = ["s-0", "s-1", "s-2", "s-3", "s-4", "s-5"];
    expect(new Set(ids.map((id) => shardOf(id, 3))).size).toBeGreaterThan(1);
    const texts = Object.values(PARAGRAPHS);
    const { job_id } = await ingest(key, { documents: ids.map((id, i) => ({ id, text: texts[i % texts.length] })) });
    await waitForJob(key, job_id);

    const [delivery] = await waitFor(
      () => received(inbox),
      (list) => list.length >= 1,
    );
    expect(new Webhook(webhook.secret).verify(delivery!.body, delivery!.headers)).toMatchObject({
      type: "job.completed",
      data: { job_id, status: "done", documents: 6, processed: 6 },
    });
    await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    );
    // Every shard's part is marked notified, so no sweep records it again; still one delivery.
    for (const shard of [0, 1, 2]) {
      const object = env.TENANT_DATA.get(env.TENANT_DATA.idFromName(shard === 0 ? tenant : `${tenant}#${shard}`));
      expect(await object.jobAwaitingEvent(job_id)).toBe(false);
    }
    expect((await deliveries(key, webhook.id)).deliveries).toHaveLength(1);
    expect(await received(inbox)).toHaveLength(1);
  });

  it("lists deliveries newest first, a page at a time", async () => {
    const { key } = await admin();
    const webhook = await register(key, hookUrl(newInbox()));
    const first = await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.printing }] });
    await waitForJob(key, first.job_id);
    const second = await ingest(key, { documents: [{ id: "b", text: PARAGRAPHS.lighthouse }] });
    await waitForJob(key, second.job_id);
    await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries.length === 2,
    );
    const one = await deliveries(key, webhook.id, "?limit=1");
    expect(one.deliveries.map((delivery) => delivery.job_id)).toEqual([second.job_id]);
    expect(one.next_cursor).toEqual(expect.any(String));
    const two = await deliveries(key, webhook.id, `?limit=1&cursor=${one.next_cursor}`);
    expect(two.deliveries.map((delivery) => delivery.job_id)).toEqual([first.job_id]);
    expect(two.next_cursor).toBeNull();
    const bad = await call(`/v1/webhooks/${webhook.id}/deliveries?cursor=not-a-cursor`, { auth: key });
    expect(bad.status).toBe(400);
  });
});

describe("webhooks: exactly once, and repair", () => {
  it("each event is recorded once per job: a job finalized again, an event recorded twice and a message delivered twice send nothing more", async () => {
    const { tenant, key } = await admin();
    const inbox = newInbox("once");
    const webhook = await register(key, hookUrl(inbox));
    const { job_id } = await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.glaciers }] });
    await waitForJob(key, job_id);
    const [delivery] = await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    ).then((page) => page.deliveries);

    const object = tenantObject(tenant) as unknown as DurableObjectStub<TenantData>;
    // The sweep's re-finalization of the job, and two concurrent recordings of its event.
    await object.markEnqueued(job_id, Date.now(), { resent: true });
    const view = (await object.job(job_id))!;
    const recorded = await Promise.all([object.recordJobEvent(view, Date.now()), object.recordJobEvent(view, Date.now())]);
    expect(recorded).toEqual([0, 0]);
    expect(await tenantSql(tenant, "SELECT id FROM webhook_deliveries")).toEqual([{ id: delivery!.id }]);

    // The queue delivering the message again: acked, nothing sent, the log unchanged.
    expect(await consume({ v: 1, tenant, delivery_id: delivery!.id })).toEqual({ acked: 1, retried: 0 });
    expect(await received(inbox)).toHaveLength(1);
    expect((await deliveries(key, webhook.id)).deliveries).toEqual([delivery]);
  });

  it("a delivery recorded but never enqueued (a crash between record and send) is enqueued by the object's alarm", async () => {
    const { tenant, key } = await admin();
    const inbox = newInbox("repair");
    const webhook = await register(key, hookUrl(inbox));
    const { job_id } = await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.volcano }] });
    await waitForJob(key, job_id);
    await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    );
    // As if the send had never happened: pending, never enqueued, recorded before the grace period.
    await tenantSql(
      tenant,
      "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, delivered_at = NULL, enqueued_at = NULL, created_at = ?1",
      Date.now() - 10 * 60_000,
    );
    expect(await runDurableObjectAlarm(tenantObject(tenant))).toBe(true);
    const attempts = await waitFor(
      () => received(inbox),
      (list) => list.length >= 2,
    );
    expect(attempts[1]!.headers["webhook-id"]).toBe(attempts[0]!.headers["webhook-id"]);
    await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    );
  });
});

describe("webhooks: a tenant of several shards, repaired by the sweep", () => {
  it("records the event of a job whose worker never did, once, when the sweep finds its parts finished and unnotified", async () => {
    const tenant = uniqueTenant("wh-sweep");
    await env.DB.prepare("INSERT INTO tenants (tenant, updated_at, shards) VALUES (?1, 0, 2)").bind(tenant).run();
    const { key } = await createKey(tenant, ["admin"]);
    const inbox = newInbox("sweep");
    const webhook = await register(key, hookUrl(inbox), ["job.completed"]);
    const { job_id } = await ingest(key, {
      documents: ["p-0", "p-1", "p-2", "p-3"].map((id, i) => ({ id, text: Object.values(PARAGRAPHS)[i]! })),
    });
    await waitForJob(key, job_id);
    await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "delivered",
    );
    // As if the worker had died after the last part finished: no delivery, no part notified.
    const shard = (n: number) => env.TENANT_DATA.get(env.TENANT_DATA.idFromName(n === 0 ? tenant : `${tenant}#${n}`));
    await tenantSql(tenant, "DELETE FROM webhook_deliveries");
    for (const n of [0, 1])
      await runInDurableObject(shard(n), (_object, state) => state.storage.sql.exec("UPDATE jobs SET notified_at = NULL"));
    expect(await shard(1).jobAwaitingEvent(job_id)).toBe(true);

    // The sweep, once the grace period is over: the event recorded again, and only once.
    const later = Date.now() + 10 * 60_000;
    await localServices(env).ingest.sweep(tenant, later);
    await localServices(env).ingest.sweep(tenant, later);
    const attempts = await waitFor(
      () => received(inbox),
      (list) => list.length >= 2,
    );
    expect(new Webhook(webhook.secret).verify(attempts[1]!.body, attempts[1]!.headers)).toMatchObject({
      type: "job.completed",
      data: { job_id, processed: 4 },
    });
    expect((await deliveries(key, webhook.id)).deliveries).toHaveLength(1);
    for (const n of [0, 1]) expect(await shard(n).jobAwaitingEvent(job_id)).toBe(false);
  });
});

describe("webhooks: targets (security)", () => {
  it("refuses a plain-http target when deployed, through the same route and validation (and accepts https there)", async () => {
    const { key } = await admin();
    // The deployed configuration: https dependencies, the rate-limiting bindings.
    const deployed = {
      ENVIRONMENT: "production",
      ORIGIN_URLS: "https://origin.example.com",
      UPSTASH_REDIS_REST_URL: undefined,
      UPSTASH_REDIS_REST_TOKEN: undefined,
      IDP_JWKS_URL: undefined,
      IDP_ISSUER: undefined,
      IDP_AUDIENCE: undefined,
    };
    const refused = await callWithEnv(deployed, "/v1/webhooks", { auth: key, body: { url: hookUrl(newInbox()), events: EVENTS } });
    expect(refused.status).toBe(400);
    const problem = await json(refused);
    expect(problem.code).toBe("VALIDATION_FAILED");
    expect(JSON.stringify(problem)).toContain("must be https");
    const accepted = await callWithEnv(deployed, "/v1/webhooks", {
      auth: key,
      body: { url: "https://hooks.example.com/x", events: EVENTS },
    });
    expect(accepted.status).toBe(201);
    const listed = await json<{ webhooks: Created[] }>(await call("/v1/webhooks", { auth: key }));
    expect(listed.webhooks.map((webhook) => webhook.url)).toEqual(["https://hooks.example.com/x"]);
  });

  it("does not follow a redirect: a 3xx is a failed attempt, retried until the delivery fails", async () => {
    const { key } = await admin();
    const inbox = newInbox("redirect");
    const target = newInbox("redirect-target");
    await program(inbox, { redirectTo: hookUrl(target) });
    const webhook = await register(key, hookUrl(inbox));
    await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.printing }] });

    const log = await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries[0]?.status === "failed",
      30_000,
    );
    expect(log.deliveries[0]).toMatchObject({ status: "failed", attempts: 4, last_status_code: 302, delivered_at: null });
    expect(log.deliveries[0]!.last_error).toContain("redirects are not followed");
    expect(await received(inbox)).toHaveLength(4);
    expect(await received(target)).toEqual([]);
  });

  it("refuses other schemes, credentials in the URL and malformed bodies with 400, storing nothing", async () => {
    const { tenant, key } = await admin();
    const bodies = [
      { url: "ftp://hooks.example.com/x", events: EVENTS },
      { url: "javascript:alert(1)", events: EVENTS },
      { url: "https://user:pass@hooks.example.com/x", events: EVENTS },
      { url: "/relative", events: EVENTS },
      { url: "https://hooks.example.com/x" },
      { url: "https://hooks.example.com/x", events: [] },
      { url: "https://hooks.example.com/x", events: ["job.started"] },
      { url: "https://hooks.example.com/x", events: EVENTS, secret: "whsec_mine" },
      { url: `https://hooks.example.com/${"x".repeat(2100)}`, events: EVENTS },
      { events: EVENTS },
    ];
    for (const body of bodies) {
      const response = await call("/v1/webhooks", { auth: key, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await json(response)).code).toBe("VALIDATION_FAILED");
    }
    expect(await tenantSql(tenant, "SELECT id FROM webhooks")).toEqual([]);
    expect((await json(await call("/v1/webhooks", { auth: key }))).webhooks).toEqual([]);
  });

  it("shows the secret once: never in GET, the list or the deliveries", async () => {
    const { key } = await admin();
    const webhook = await register(key, hookUrl(newInbox()));
    const read = await call(`/v1/webhooks/${webhook.id}`, { auth: key });
    expect(read.status).toBe(200);
    const text = await read.text();
    expect(text).not.toContain(webhook.secret);
    expect(JSON.parse(text)).toEqual({ id: webhook.id, url: webhook.url, events: EVENTS, created_at: webhook.created_at });
    const listed = await (await call("/v1/webhooks", { auth: key })).text();
    expect(listed).not.toContain(webhook.secret.slice(6));
    expect(JSON.parse(listed).webhooks).toEqual([{ id: webhook.id, url: webhook.url, events: EVENTS, created_at: webhook.created_at }]);
  });

  it("is admin only: a reader and a writer get 403, and nothing is stored", async () => {
    const { tenant } = await admin();
    for (const role of ["reader", "writer"] as const) {
      const { key } = await createKey(tenant, [role]);
      expect((await call("/v1/webhooks", { auth: key, body: { url: "https://hooks.example.com/x", events: EVENTS } })).status).toBe(403);
      expect((await call("/v1/webhooks", { auth: key })).status).toBe(403);
    }
    expect(await tenantSql(tenant, "SELECT id FROM webhooks")).toEqual([]);
  });

  it("another tenant's webhook is not found: read, delete and deliveries all 404, and it stays", async () => {
    const owner = await admin();
    const other = await admin();
    const webhook = await register(owner.key, "https://hooks.example.com/x");
    for (const [method, path] of [
      ["GET", `/v1/webhooks/${webhook.id}`],
      ["DELETE", `/v1/webhooks/${webhook.id}`],
      ["GET", `/v1/webhooks/${webhook.id}/deliveries`],
    ] as const) {
      const response = await call(path, { auth: other.key, method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect((await json(response)).code).toBe("NOT_FOUND");
    }
    expect((await json(await call("/v1/webhooks", { auth: other.key }))).webhooks).toEqual([]);
    expect((await call(`/v1/webhooks/${webhook.id}`, { auth: owner.key })).status).toBe(200);
    expect((await call("/v1/webhooks/not-an-id", { auth: owner.key })).status).toBe(400);
  });

  it("caps webhooks per tenant (TENANT_MAX_WEBHOOKS): one more is 403 QUOTA_EXCEEDED and stores nothing", async () => {
    const { tenant, key } = await admin();
    const create = () =>
      callWithEnv({ TENANT_MAX_WEBHOOKS: "2" }, "/v1/webhooks", {
        auth: key,
        body: { url: "https://hooks.example.com/x", events: EVENTS },
      });
    expect((await create()).status).toBe(201);
    expect((await create()).status).toBe(201);
    const third = await create();
    expect(third.status).toBe(403);
    expect(await json(third)).toMatchObject({ code: "QUOTA_EXCEEDED", quota: "webhooks", limit: 2 });
    expect(await tenantSql(tenant, "SELECT id FROM webhooks")).toHaveLength(2);
  });
});

describe("webhooks: deletion", () => {
  it("deleting a webhook drops its pending deliveries: the consumer finds it gone and acks", async () => {
    const { tenant, key } = await admin();
    const inbox = newInbox("deleted");
    await program(inbox, { fail: 100 });
    const webhook = await register(key, hookUrl(inbox));
    await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.lighthouse }] });
    const [first] = await waitFor(
      () => received(inbox),
      (list) => list.length >= 1,
    );
    const deliveryId = first!.headers["webhook-id"]!;

    const deleted = await call(`/v1/webhooks/${webhook.id}`, { auth: key, method: "DELETE" });
    expect(deleted.status).toBe(204);
    expect((await call(`/v1/webhooks/${webhook.id}`, { auth: key })).status).toBe(404);
    expect((await call(`/v1/webhooks/${webhook.id}/deliveries`, { auth: key })).status).toBe(404);
    expect(await tenantSql(tenant, "SELECT id FROM webhook_deliveries")).toEqual([]);
    // Its retry arriving now: acked without a POST.
    const before = (await received(inbox)).length;
    expect(await consume({ v: 1, tenant, delivery_id: deliveryId as string })).toEqual({ acked: 1, retried: 0 });
    expect((await received(inbox)).length).toBe(before);
    expect((await call(`/v1/webhooks/${webhook.id}`, { auth: key, method: "DELETE" })).status).toBe(404);
  });

  it("deleting the tenant deletes its webhooks and their deliveries with the rest of its object", async () => {
    const { tenant, key } = await admin();
    const webhook = await register(key, hookUrl(newInbox()));
    const { job_id } = await ingest(key, { documents: [{ id: "a", text: PARAGRAPHS.glaciers }] });
    await waitForJob(key, job_id);
    await waitFor(
      () => deliveries(key, webhook.id),
      (page) => page.deliveries.length === 1,
    );
    await localServices(env).tenantAdmin.delete(tenant);
    expect(await tenantSql(tenant, "SELECT id FROM webhooks UNION ALL SELECT id FROM webhook_deliveries")).toEqual([]);
  });
});
