import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll } from "vitest";
import type { ScriptSeen } from "../../tools/upstash-bridge/index";
import { startBridgeFixture } from "./upstash-bridge-fixture";

/**
 * The Upstash database a conformance suite runs against: the local bridge in front of a real
 * redis-server, or a real Upstash database when UPSTASH_CONFORMANCE_URL and
 * UPSTASH_CONFORMANCE_TOKEN are set (the suites only use fresh random keys, never delete any).
 */
export interface UpstashTarget {
  url: string;
  token: string;
  /** The scripts the bridge saw (null for a real Upstash database, which does not tell). */
  scripts: ScriptSeen[] | null;
  stop(): Promise<void>;
}

export async function startUpstashTarget(): Promise<UpstashTarget> {
  const url = process.env.UPSTASH_CONFORMANCE_URL;
  const token = process.env.UPSTASH_CONFORMANCE_TOKEN;
  if (url && token) return { url, token, scripts: null, stop: async () => {} };
  const fixture = await startBridgeFixture();
  return { url: fixture.url, token: fixture.token, scripts: fixture.scripts, stop: () => fixture.stop() };
}

/** The file's target: started before the file's tests, stopped after. */
export function useUpstashTarget(): { readonly target: UpstashTarget } {
  const suite = {} as { target: UpstashTarget };
  beforeAll(async () => {
    suite.target = await startUpstashTarget();
  });
  afterAll(async () => {
    await suite.target?.stop();
  });
  return suite;
}

/**
 * A local HTTP endpoint that misbehaves on purpose, once a request arrives: `hang` never answers,
 * `reset` drops the connection, `html` answers 502 with an HTML page. Counts the requests it got
 * (not connections: the runtime's fetch may open a spare one).
 */
export async function startBadServer(
  mode: "hang" | "reset" | "html",
): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("data", () => {
      requests += 1;
      if (mode === "reset") socket.destroy();
      if (mode === "html") {
        const body = "<html><body>Bad Gateway</body></html>";
        socket.end(
          `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
