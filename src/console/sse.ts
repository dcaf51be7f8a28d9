/**
 * Server-sent events from a fetch body (EventSource cannot POST or send an Authorization
 * header): blank-line separated blocks of `event:` and `data:` lines, `:` comments ignored,
 * "message" the default event, several data lines joined with "\n" (the WHATWG format).
 */
export interface SseEvent {
  event: string;
  data: string;
}

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      // A "\r" at a chunk's end may be half of a "\r\n": it is normalised with the next chunk.
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const held = !done && pending.endsWith("\r") ? "\r" : "";
      pending = pending.slice(0, pending.length - held.length).replace(/\r\n?/g, "\n") + held;
      for (let end = pending.indexOf("\n\n"); end !== -1; end = pending.indexOf("\n\n")) {
        const event = parse(pending.slice(0, end));
        pending = pending.slice(end + 2);
        if (event) yield event;
      }
      if (done) {
        const event = parse(pending);
        if (event) yield event;
        return;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function parse(block: string): SseEvent | null {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length > 0 ? { event, data: data.join("\n") } : null;
}
