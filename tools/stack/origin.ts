import { join } from "node:path";
import { ROOT } from "./paths";
import { type ManagedProcess, startProcess } from "./processes";

/** Starts the origin service (container/) from source; resolves once it listens. */
export async function startOrigin(options: {
  port: number;
  host?: string;
  jwtSecret: string;
  env?: Record<string, string>;
  log?: (line: string) => void;
}): Promise<{ url: string; process: ManagedProcess }> {
  const { process: child, match } = await startProcess({
    name: "origin",
    command: process.execPath,
    args: ["--import", "tsx", "src/server.ts"],
    cwd: join(ROOT, "container"),
    env: {
      ...process.env,
      NODE_ENV: "development",
      PORT: String(options.port),
      HOST: options.host ?? "127.0.0.1",
      ORIGIN_JWT_SECRET: options.jwtSecret,
      ...options.env,
    },
    log: options.log,
    readyLine: /listening on (http:\/\/\S+)/,
    readyTimeoutMs: 180_000,
  });
  return { url: match![1]!.replace(/\/$/, ""), process: child };
}
