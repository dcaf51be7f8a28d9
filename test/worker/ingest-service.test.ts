import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { handleIngestBatch } from "../../src/ingest/consumer";
import type { IngestService } from "../../src/ingest/ingest-service";
import type { IngestMessage } from "../../src/ingest/messages";
import type { ServicesFactory } from "../../src/services";
import { callWithServices, createKey, json, servicesWith, uniqueTenant } from "./helpers";
import { PARAGRAPHS } from "./ingest-fixtures";

/**
 * Real services whose ingest use case notes each call before doing it (a decorator, as the query
 * cache wraps the query service), and the queue messages the accepted documents would be sent as.
 */
function observedServices() {
  const calls: string[] = [];
  const sent: IngestMessage[] = [];
  const queue = {
    send: async (body: IngestMessage) => void sent.push(body),
    sendBatch: async (batch: Array<{ body: IngestMessage }>) => void sent.push(...batch.map((message) => message.body)),
  };
  const factory: ServicesFactory = (bindings) => {
    const services = servicesWith({})({ ...bindings, INGEST_QUEUE: queue as unknown as Queue });
    const inner = services.ingest;
    const noted =
      <A extends unknown[], R>(name: string, method: (...args: A) => R) =>
      (...args: A): R => {
        calls.push(name);
        return method(...args);
      };
    const ingest: IngestService = {
      accept: noted("accept", inner.accept),
      acceptFiles: noted("acceptFiles", inner.acceptFiles),
      reindex: noted("reindex", inner.reindex),
      original: noted("original", inner.original),
      remove: noted("remove", inner.remove),
      index: noted("index", inner.index),
      indexNow: noted("indexNow", inner.indexNow),
      sweep: noted("sweep", inner.sweep),
    };
    return { ...services, ingest };
  };
  return { factory, calls, sent };
}

describe("services.ingest: one use case behind the documents route and the queue consumer", () => {
  it("POST /v1/documents, the consumer and DELETE /v1/documents/{id} each call it once (happy)", async () => {
    const tenant = uniqueTenant("ingest-svc");
    const { key } = await createKey(tenant, ["writer"]);
    const { factory, calls, sent } = observedServices();

    const accepted = await callWithServices(factory, "/v1/documents", {
      auth: key,
      body: { documents: [{ id: "doc", text: PARAGRAPHS.glaciers }] },
    });
    expect(accepted.status).toBe(202);
    const { job_id } = await json<{ job_id: string }>(accepted);
    expect(sent).toEqual([{ v: 1, tenant, job_id, document_ids: ["doc"] }]);

    const batch = createMessageBatch(
      "edge-rag-ingest",
      sent.map((body, i) => ({ id: `svc-${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    await handleIngestBatch(batch, env, factory);
    expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toEqual(["svc-0"]);

    expect((await callWithServices(factory, "/v1/documents/doc", { method: "DELETE", auth: key })).status).toBe(204);
    expect((await callWithServices(factory, "/v1/documents/doc", { method: "DELETE", auth: key })).status).toBe(404);
    expect(calls).toEqual(["accept", "index", "remove", "remove"]);
  });
});
