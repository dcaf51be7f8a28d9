import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./paths";

/**
 * Runs a wrangler command to completion (non-interactive), streaming its output to `log`; `root` is
 * the checkout whose wrangler and wrangler.toml it uses (another one: the bench against an older commit).
 */
export function wrangler(args: string[], log: (line: string) => void = () => {}, root = ROOT): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "node_modules/wrangler/bin/wrangler.js"), ...args], {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of chunk.toString().split("\n")) if (line.trim()) log(line);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`wrangler ${args.slice(0, 3).join(" ")} failed (exit ${code}): ${output.trim().slice(-800)}`)),
    );
  });
}

/** Runs one SQL statement on the local D1 under `stateDir` (the checkout at `root`'s database) and returns its rows. */
export async function queryLocalD1<Row = Record<string, unknown>>(stateDir: string, sql: string, root = ROOT): Promise<Row[]> {
  const output = await wrangler(["d1", "execute", "DB", "--local", "--persist-to", stateDir, "--json", "--command", sql], () => {}, root);
  // wrangler may print a line or two before the JSON.
  return (JSON.parse(output.slice(output.indexOf("["))) as Array<{ results: Row[] }>)[0]!.results;
}
