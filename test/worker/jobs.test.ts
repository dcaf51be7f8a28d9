import { describe, expect, it } from "vitest";
import { call, createKey, json, tenantFirst, uniqueTenant } from "./helpers";
import { indexVersion, ingest, PARAGRAPHS, waitForJob } from "./ingest-fixtures";

/** GET /v1/jobs/{id}: progress, counts and failures of an ingestion job, per tenant. */

async function writer(label = "jobs") {
  const tenant = uniqueTenant(label);
  const { key } = await createKey(tenant, ["writer"]);
  return { tenant, key };
}

describe("GET /v1/jobs/{id} (happy)", () => {
  it("reports a job from accepted to done with its counts, chunks and the index version", async () => {
    const { tenant, key } = await writer();
    const { job_id, status_url } = await ingest(key, {
      documents: [
        { id: "a", text: PARAGRAPHS.glaciers },
        { id: "b", text: PARAGRAPHS.volcano },
      ],
    });
    const early = await call(status_url, { auth: key });
    expect(early.status).toBe(200);
    expect(early.headers.get("cache-control")).toBe("no-store");
    const first = await json(early);
    expect(["queued", "processing", "done"]).toContain(first.status);
    expect(first).toMatchObject({ id: job_id, documents: 2, failed: 0, errors: [] });

    const done = await waitForJob(key, job_id);
    expect(done).toEqual({
      id: job_id,
      status: "done",
      documents: 2,
      processed: 2,
      skipped: 0,
      failed: 0,
      chunks: expect.any(Number),
      errors: [],
      outcomes: [
        { document_id: "a", status: "done", chunks: expect.any(Number) },
        { document_id: "b", status: "done", chunks: expect.any(Number) },
      ],
      index_version: await indexVersion(tenant),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(done.chunks).toBeGreaterThanOrEqual(2);
    expect(Date.parse(done.updated_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at));
  });

  it("counts unchanged documents as skipped next to the processed ones", async () => {
    const { key } = await writer();
    await waitForJob(key, (await ingest(key, { documents: [{ id: "same", text: PARAGRAPHS.printing }] })).job_id);
    const job = await waitForJob(
      key,
      (
        await ingest(key, {
          documents: [
            { id: "same", text: PARAGRAPHS.printing },
            { id: "new", text: PARAGRAPHS.lighthouse },
          ],
        })
      ).job_id,
    );
    expect(job).toMatchObject({ status: "done", documents: 2, processed: 1, skipped: 1, failed: 0 });
  });

  it("a job whose every document is unchanged is done at once, with nothing enqueued", async () => {
    const { tenant, key } = await writer();
    const body = { documents: [{ id: "u", text: PARAGRAPHS.volcano }] };
    await waitForJob(key, (await ingest(key, body)).job_id);
    const { job_id } = await ingest(key, body);
    const job = await json(await call(`/v1/jobs/${job_id}`, { auth: key }));
    expect(job).toMatchObject({ status: "done", processed: 0, skipped: 1 });
    expect(await tenantFirst(tenant, "SELECT enqueued_at FROM jobs WHERE id = ?1", job_id)).toEqual({ enqueued_at: expect.any(Number) });
  });
});

describe("GET /v1/jobs/{id} (error)", () => {
  it("answers 404 for an unknown job and 400 for something that is not a job id", async () => {
    const { key } = await writer();
    const unknown = await call(`/v1/jobs/job_${"0".repeat(32)}`, { auth: key });
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).code).toBe("NOT_FOUND");
    const malformed = await call("/v1/jobs/not-a-job", { auth: key });
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).code).toBe("VALIDATION_FAILED");
  });
});

describe("GET /v1/jobs/{id} (security)", () => {
  it("needs credentials (401) and the writer role (403 for a reader)", async () => {
    const { tenant, key } = await writer();
    const { job_id } = await ingest(key, { documents: [{ text: PARAGRAPHS.glaciers }] });
    const anonymous = await call(`/v1/jobs/${job_id}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const { key: readerKey } = await createKey(tenant, ["reader"]);
    expect((await call(`/v1/jobs/${job_id}`, { auth: readerKey })).status).toBe(403);
  });

  it("another tenant's job is 404, exactly like an unknown one", async () => {
    const a = await writer("jobs-a");
    const b = await writer("jobs-b");
    const { job_id } = await ingest(a.key, { documents: [{ text: PARAGRAPHS.printing }] });
    const response = await call(`/v1/jobs/${job_id}`, { auth: b.key });
    expect(response.status).toBe(404);
    expect((await json(response)).detail).toBe(`job ${job_id} was not found`);
    // An admin of the other tenant is no exception.
    const { key: adminB } = await createKey(b.tenant, ["admin"]);
    expect((await call(`/v1/jobs/${job_id}`, { auth: adminB })).status).toBe(404);
  });
});
