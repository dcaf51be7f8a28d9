import { OriginTimeout } from "../errors";

/**
 * Reads a server-sent-events body (the origin's generate stream) as `{ event, data }` records,
 * per the WHATWG event-stream format: blank-line separated blocks, `event:` and `data:` fields
 * (several `data:` lines join with "\n"), `:` comments ignored, "message" as the default event.
 */
export interface SseEvent {
  event: string;
  data: string;
}

/** A stream that never ends a block would otherwise grow this buffer without bound. */
const MAX_PENDING_CHARS = 1 << 20;

/**
 * `idleTimeoutMs` bounds the silence between two chunks (not the whole stream, which may
 * legitimately run long): a stalled origin ends as ORIGIN_TIMEOUT.
 */
export async function* readSseEvents(body: ReadableStream<Uint8Array>, { idleTimeoutMs = 20_000 } = {}): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  const read = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OriginTimeout(`the origin's answer stream was silent for ${idleTimeoutMs} ms`)), idleTimeoutMs);
    });
    try {
      return await Promise.race([reader.read(), idle]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    for (;;) {
      const { done, value } = await read();
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A "\r" at the end may be the first half of a "\r\n" split across chunks: keep it raw.
      const held = !done && pending.endsWith("\r") ? "\r" : "";
      pending = pending.slice(0, pending.length - held.length).replace(/\r\n?/g, "\n") + held;
      for (let boundary = pending.indexOf("\n\n"); boundary !== -1; boundary = pending.indexOf("\n\n")) {
        const event = parseBlock(pending.slice(0, boundary));
        pending = pending.slice(boundary + 2);
        if (event) yield event;
      }
      if (pending.length > MAX_PENDING_CHARS) throw new Error("server-sent event too large");
      if (done) {
        const event = parseBlock(pending);
        if (event) yield event;
        return;
      }
    }
  } finally {
    // Stops the upstream body when the consumer leaves early (client gone, error upstream).
    await reader.cancel().catch(() => {});
  }
}

function parseBlock(block: string): SseEvent | null {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length > 0 ? { event, data: data.join("\n") } : null;
}
