import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

export const TEST_SECRET = "test-secret-0123456789abcdef-0123456789";
const root = resolve(import.meta.dirname, "../..");

export type Origin = {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output: () => string;
  /** SIGTERM, then wait for the exit code. */
  stop: () => Promise<number | null>;
};

/**
 * Starts the real origin the way the local launcher does (`node --import tsx src/server.ts`, cwd =
 * container/) on a free port (PORT=0), and resolves once it prints its `listening on` line.
 */
export function startOrigin(env: Record<string, string> = {}): Promise<Origin> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "test",
      PORT: "0",
      LOG_LEVEL: "info",
      ORIGIN_JWT_SECRET: TEST_SECRET,
      EMBED_WORKERS: "2",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return new Promise((resolvePromise, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      const match = output.match(/listening on (http:\/\/[^\s"]+)/);
      if (match) {
        child.stdout!.off("data", onData);
        child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
        resolvePromise({
          url: match[1]!,
          child,
          output: () => output,
          stop: async () => {
            if (child.exitCode === null) child.kill("SIGTERM");
            return exited;
          },
        });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    void exited.then((code) => reject(new Error(`origin exited with ${code} before listening:\n${output}`)));
  });
}

/** Runs the origin with `env` expecting it to refuse to start; resolves its exit code and output. */
export function runOriginExpectingFailure(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((done) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      done({ code, output });
    }),
  );
}
