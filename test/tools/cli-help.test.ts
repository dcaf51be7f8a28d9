import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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
  "reindex",
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
  "logout",
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
    const both = await cli(["reindex", "a.pdf", "--collection", "c"]);
    expect(both.code).toBe(64);
    expect(both.stderr).toContain("give document ids or --collection, not both");
    const noUrl = await cli(["query", "hello"]);
    expect(noUrl.code).toBe(64);
    expect(noUrl.stderr).toContain("EDGE_RAG_URL");
  });
});

/**
 * `npx edge-rag` in a checkout first installs the project itself into npm's npx cache, and npm
 * checks the project's `engines` against the running Node. The bin (like every script) goes
 * through tools/bootstrap.mjs, which fetches Node 22 when the machine's is older, so the package
 * works on Node ≥ 18 and says so; the toolchain's own need (Node ≥ 22.12) is the bootstrap's job.
 */
describe("npx edge-rag on an older Node", () => {
  it("prints no EBADENGINE warning on a first run (fresh npx cache) under Node 20", async () => {
    // npm's own npx, with Node 20 as the version npm sees (its engine checks read process.version);
    // the command it starts runs on this Node, so nothing is downloaded.
    const npxCli = realpathSync(execFileSync("sh", ["-c", "command -v npx"]).toString().trim());
    const node20 = `data:text/javascript,Object.defineProperty(process,"version",{value:"v20.19.0"})`;
    const cache = mkdtempSync(join(tmpdir(), "edge-rag-npx-cache-"));
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ["--import", node20, npxCli, "--offline", "--cache", cache, "edge-rag", "--help"],
        {
          cwd: ROOT,
          env: { ...process.env, EDGE_RAG_URL: undefined, EDGE_RAG_KEY: undefined },
        },
      );
      expect(stdout).toContain("usage: edge-rag <command>");
      expect(stderr).not.toContain("EBADENGINE");
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 60_000);

  it("keeps that promise: every script that runs a Node 22 tool directly goes through the bootstrap", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.engines.node).toBe(">=18.0.0");
    for (const [name, script] of Object.entries<string>(pkg.scripts)) {
      // wrangler needs Node >= 22 (vitest >= 22.12): reached only through tools/bootstrap.mjs, or as
      // a step of a script that is (test:all and test:origin run inside `npm test`'s bootstrap).
      if (name === "test:all" || name === "test:origin") continue;
      for (const step of script.split("&&").map((part) => part.trim())) {
        if (/^(wrangler|vitest|tsx|concurrently)\b/.test(step)) expect.fail(`script ${name} runs \`${step}\` without tools/bootstrap.mjs`);
      }
    }
  });
});
