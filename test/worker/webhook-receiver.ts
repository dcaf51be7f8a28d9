import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listenOnLoopback, readBody, sendJson } from "./loopback-http";

/**
 * A webhook receiver on loopback for the webhook tests (global-setup.ts starts it; workerd's
 * consumer POSTs to it for real). Each test uses inboxes of its own: `POST /hooks/<inbox>` is a
 * delivery, answered as the inbox is programmed; `/control/<inbox>` programs it (POST
 * `{fail, failStatus, redirectTo}`: answer the first `fail` deliveries with `failStatus` (default
 * 500), or every one with a 302 to `redirectTo`) and reads what it received (GET).
 */

export interface ReceivedDelivery {
  headers: Record<string, string>;
  body: string;
  /** The status the receiver answered. */
  answered: number;
}

export interface InboxProgram {
  fail?: number;
  failStatus?: number;
  redirectTo?: string;
}

export interface WebhookReceiver {
  url: string;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const inboxes = new Map<string, { program: InboxProgram; received: ReceivedDelivery[] }>();
  const inbox = (name: string) => {
    const found = inboxes.get(name) ?? { program: {}, received: [] };
    inboxes.set(name, found);
    return found;
  };

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) =>
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const path = new URL(request.url ?? "/", "http://receiver").pathname;
    const hook = /^\/hooks\/([\w-]+)$/.exec(path)?.[1];
    if (hook && request.method === "POST") {
      const box = inbox(hook);
      const body = await readBody(request);
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
      const { program } = box;
      let answered = 200;
      if (program.redirectTo) answered = 302;
      else if ((program.fail ?? 0) > box.received.length) answered = program.failStatus ?? 500;
      box.received.push({ headers, body, answered });
      if (answered === 302) return response.writeHead(302, { location: program.redirectTo }).end();
      return sendJson(response, answered, { ok: answered < 300 });
    }
    const control = /^\/control\/([\w-]+)$/.exec(path)?.[1];
    if (control && request.method === "POST") {
      inbox(control).program = JSON.parse((await readBody(request)) || "{}") as InboxProgram;
      return sendJson(response, 200, inbox(control).program);
    }
    if (control && request.method === "GET") return sendJson(response, 200, { received: inbox(control).received });
    sendJson(response, 404, { error: `no such path: ${request.method} ${path}` });
  }

  return listenOnLoopback(server);
}
