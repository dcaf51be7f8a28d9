import { describe, expect, it } from "vitest";
import { readSseEvents } from "../../src/sse-events";

const encoder = new TextEncoder();

/** A body that sends `parts` as separate chunks, then closes (or stays open with `hang`). */
function bodyOf(parts: string[], { hang = false } = {}) {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      if (!hang) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { body, cancelled: () => cancelled };
}

async function eventsOf(parts: string[]) {
  const events = [];
  for await (const event of readSseEvents(bodyOf(parts).body)) events.push(event);
  return events;
}

describe("readSseEvents", () => {
  it("parses events split across chunks, with CRLF and multi-line data", async () => {
    expect(
      await eventsOf([
        "event: token\r",
        '\ndata: {"text":"Hel"}\r\n\r\n: comment\n\nevent: tok',
        'en\ndata: {"text":"lo"}\n\nevent: done\ndata: a\ndata: b\n\n',
      ]),
    ).toEqual([
      { event: "token", data: '{"text":"Hel"}' },
      { event: "token", data: '{"text":"lo"}' },
      { event: "done", data: "a\nb" },
    ]);
  });

  it("takes CR line ends, a field without a colon, one leading space only, and a last block without its blank line", async () => {
    expect(await eventsOf(["data:  two spaces\r\revent: x\rdata\r\r", "data: last"])).toEqual([
      { event: "message", data: " two spaces" },
      { event: "x", data: "" },
      { event: "message", data: "last" },
    ]);
  });

  it("decodes a UTF-8 character split across chunks", async () => {
    const bytes = encoder.encode("data: café\n\n");
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 10));
        controller.enqueue(bytes.slice(10));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readSseEvents(body)) events.push(event);
    expect(events).toEqual([{ event: "message", data: "café" }]);
  });

  it("throws the caller's error when the stream is silent past the idle timeout, and cancels the body", async () => {
    const { body, cancelled } = bodyOf(["data: first\n\n"], { hang: true });
    const events: string[] = [];
    const reading = (async () => {
      for await (const event of readSseEvents(body, { idleTimeoutMs: 50, idleError: (ms) => new RangeError(`silent ${ms}`) })) {
        events.push(event.data);
      }
    })();
    await expect(reading).rejects.toThrow(new RangeError("silent 50"));
    expect(events).toEqual(["first"]);
    expect(cancelled()).toBe(true);
  });

  it("refuses a block that never ends instead of buffering it without bound", async () => {
    const { body } = bodyOf([`data: ${"x".repeat(1 << 20)}`]);
    await expect(
      (async () => {
        for await (const _ of readSseEvents(body));
      })(),
    ).rejects.toThrow("server-sent event too large");
  });

  it("cancels the body when the consumer stops early", async () => {
    const { body, cancelled } = bodyOf(["data: a\n\ndata: b\n\n"], { hang: true });
    for await (const event of readSseEvents(body)) if (event.data === "a") break;
    expect(cancelled()).toBe(true);
  });
});
