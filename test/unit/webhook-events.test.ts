import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { JobView } from "../../src/ingest/job-store";
import { eventOf, jobEventPayload, newWebhookSecret, PAYLOAD_ERRORS, webhookUrlProblem } from "../../src/webhooks/webhook-events";
import { webhookRetryDelaySeconds } from "../../src/webhooks/webhook-service";

/** What a webhook says and where it may go (issue 27): the target rule, the secret's form, the payload, the retry schedule. */

describe("webhook targets (security)", () => {
  it("accepts https anywhere and plain http only when not deployed", () => {
    expect(webhookUrlProblem("https://hooks.example.com/x?y=1", { deployed: true })).toBeNull();
    expect(webhookUrlProblem("http://127.0.0.1:9000/hook", { deployed: false })).toBeNull();
    expect(webhookUrlProblem("http://hooks.example.com/x", { deployed: true })).toBe("must be https");
  });

  it("refuses other schemes, credentials and what is not an absolute URL, deployed or not", () => {
    for (const deployed of [true, false]) {
      expect(webhookUrlProblem("ftp://hooks.example.com/x", { deployed })).toBe("must be an http(s) URL");
      expect(webhookUrlProblem("file:///etc/passwd", { deployed })).toBe("must be an http(s) URL");
      expect(webhookUrlProblem("https://user:pw@hooks.example.com/x", { deployed })).toMatch(/credentials/);
      expect(webhookUrlProblem("https://user@hooks.example.com/x", { deployed })).toMatch(/credentials/);
      expect(webhookUrlProblem("/hooks", { deployed })).toBe("must be an absolute URL");
    }
  });
});

describe("webhook secrets and payloads (happy)", () => {
  it("makes secrets standardwebhooks reads: whsec_ and 32 random bytes, each one new", () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(secret.slice(6))).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
    const signed = new Webhook(secret).sign("msg_1", new Date(), "{}");
    expect(
      new Webhook(secret).verify("{}", {
        "webhook-id": "msg_1",
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "webhook-signature": signed,
      }),
    ).toEqual({});
  });

  it("says the job as its page does, its errors cut to PAYLOAD_ERRORS, and picks the event by status", () => {
    const job: JobView = {
      id: "job_1",
      status: "failed",
      documents: 150,
      processed: 0,
      skipped: 0,
      failed: 150,
      queued: 0,
      chunks: 0,
      errors: Array.from({ length: 150 }, (_, i) => ({ document_id: `d${i}`, error: "NO_TEXT: the file's text has no text" })),
      index_version: 7,
      created_at: Date.UTC(2026, 0, 1),
      updated_at: Date.UTC(2026, 0, 1, 0, 1),
      finished_at: Date.UTC(2026, 0, 1, 0, 1),
      outcomes: [],
    };
    expect(eventOf("failed")).toBe("job.failed");
    expect(eventOf("done")).toBe("job.completed");
    const payload = JSON.parse(jobEventPayload(job, "job.failed", Date.UTC(2026, 0, 1, 0, 2)));
    expect(payload).toEqual({
      type: "job.failed",
      timestamp: "2026-01-01T00:02:00.000Z",
      data: {
        job_id: "job_1",
        status: "failed",
        documents: 150,
        processed: 0,
        skipped: 0,
        failed: 150,
        chunks: 0,
        errors: job.errors.slice(0, PAYLOAD_ERRORS),
        index_version: 7,
        created_at: "2026-01-01T00:00:00.000Z",
        finished_at: "2026-01-01T00:01:00.000Z",
      },
    });
  });

  it("retries after base·2^(n−1) seconds, capped at an hour", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempts) => webhookRetryDelaySeconds(attempts, 30))).toEqual([
      30, 60, 120, 240, 480, 960, 1920, 3600,
    ]);
    expect(webhookRetryDelaySeconds(3, 1)).toBe(4);
  });
});
