/**
 * Reads a server-sent-events body as `{ event, data }` records, per the WHATWG event-stream
 * format: blank-line separated blocks, `event:` and `data:` fields (several `data:` lines join
 * with "\n"), `:` comments ignored, "message" as the default event, CR, LF or CRLF line ends
 * (also split across chunks), and a last block without its blank line still counted.
 *
 * One reader for every consumer of an event stream: the worker reading the origin's generate
 * stream, the console and the CLI reading /v1/query's. No imports: it runs in workerd, the
 * browser and Node alike.
 */
export interface SseEvent {
  event: string;
  data: string;
}

export interface SseOptions {
  /**
   * Bounds the silence between two chunks (not the whole stream, which may legitimately run
   * long): past it the reader throws `idleError(idleTimeoutMs)`. No bound when absent.
   */
  idleTimeoutMs?: number;
  idleError?: (idleTimeoutMs: number) => Error;
}

/** A stream that never ends a block would otherwise grow this buffer without bound. */
const MAX_PENDING_CHARS = 1 << 20;

export async function* readSseEvents(body: ReadableStream<Uint8Array>, options: SseOptions = {}): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, options);
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

async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, { idleTimeoutMs, idleError }: SseOptions) {
  if (idleTimeoutMs === undefined) return reader.read();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(idleError?.(idleTimeoutMs) ?? new Error(`the event stream was silent for ${idleTimeoutMs} ms`));
    }, idleTimeoutMs);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
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
