import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../tools/stack/paths";

/**
 * `edge-rag --help` lists every command, each command answers `--help` (exit 0, on stdout) with its
 * usage, and usage errors exit 64. The commands themselves are tested against the real local stack
 * in test/e2e/cli.e2e.test.ts.
 */
const run = promisify(execFile);
const COMMANDS = [
  "query",
  "search",
  "ingest",
  "documents get",
  "documents delete",
  "jobs get",
  "jobs wait",
  "keys create",
  "keys list",
  "keys revoke",
  "users create",
  "users list",
  "users disable",
  "users reset-password",
  "cache purge",
  "doctor",
];

async function cli(args: string[]) {
  return run(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), ...args], {
    cwd: ROOT,
    env: { ...process.env, EDGE_RAG_URL: undefined, EDGE_RAG_KEY: undefined },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

describe("edge-rag --help", () => {
  it("lists every command, the environment variables and the exit codes", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    expect(stdout).toContain("EDGE_RAG_URL");
    expect(stdout).toContain("EDGE_RAG_KEY");
    expect(stdout).toMatch(/^ {2}64 {2}usage error/m);
  });

  it.each(COMMANDS)("`edge-rag %s --help` prints its usage and exits 0", async (command) => {
    const { code, stdout } = await cli([...command.split(" "), "--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain(`usage: edge-rag ${command}`);
    expect(stdout).toContain("exit codes:");
  });

  it("a group alone lists its subcommands; unknown commands and options exit 64", async () => {
    const group = await cli(["users"]);
    expect(group.code).toBe(64);
    expect(group.stderr).toContain("users reset-password");
    expect((await cli(["users", "--help"])).code).toBe(0);
    expect((await cli([])).code).toBe(64);
    expect((await cli(["frobnicate"])).code).toBe(64);
    expect((await cli(["documents", "list"])).code).toBe(64);
    expect((await cli(["cache", "purge", "--bogus"])).code).toBe(64);
    expect((await cli(["keys", "list", "extra"])).code).toBe(64);
    const noUrl = await cli(["query", "hello"]);
    expect(noUrl.code).toBe(64);
    expect(noUrl.stderr).toContain("EDGE_RAG_URL");
  });
});
