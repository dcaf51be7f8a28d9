import { describe, expect, it } from "vitest";
import { EXIT } from "../../tools/cli/api";
import { ingestCommand } from "../../tools/cli/ingest";
import { resolve } from "../../tools/cli/main";
import { UsageError } from "../../tools/cli/usage-error";

/**
 * The CLI's argument handling in process: which command the words pick, what is help and what is a
 * usage error. test/tools/cli-help.test.ts runs the real `edge-rag` binary for the printed help.
 */
const picked = (argv: string[]) => {
  const resolved = resolve(argv);
  if ("help" in resolved) throw new Error(`expected a command, got help (exit ${resolved.exitCode})`);
  return { words: resolved.command.words.join(" "), positionals: resolved.positionals, values: resolved.values };
};

describe("edge-rag arguments (happy)", () => {
  it("picks a one-word and a two-word command and parses their options and arguments", () => {
    expect(picked(["query", "Who discovered penicillin?", "--top-k", "3"])).toMatchObject({
      words: "query",
      positionals: ["Who discovered penicillin?"],
      values: { "top-k": "3" },
    });
    expect(picked(["jobs", "get", "job-1"])).toMatchObject({ words: "jobs get", positionals: ["job-1"] });
    expect(picked(["ingest", "docs/", "--collection", "handbook", "--batch-size", "10", "--restart"])).toMatchObject({
      words: "ingest",
      positionals: ["docs/"],
      values: { collection: "handbook", "batch-size": "10", restart: true },
    });
  });

  it("ingest's usage says what goes where: every file through POST /v1/documents/files, ids from relative paths", () => {
    const help = resolve(["ingest", "--help"]);
    expect(help).toMatchObject({ exitCode: EXIT.ok, help: expect.stringMatching(/^usage: edge-rag ingest <folder \| file\.md/) });
    if (!("help" in help)) throw new Error("expected help");
    expect(help.help).toContain("POST /v1/documents/files");
    expect(help.help).toContain("guides/install.md → guides_install.md");
  });

  it("answers help: the overview with no command (a usage error) or --help (ok), a group's subcommands, a command's usage", () => {
    expect(resolve([])).toMatchObject({ exitCode: EXIT.usage, help: expect.stringContaining("commands:") });
    expect(resolve(["--help"])).toMatchObject({ exitCode: EXIT.ok, help: expect.stringContaining("exit codes:") });
    const group = resolve(["jobs"]);
    expect(group).toMatchObject({ exitCode: EXIT.usage, help: expect.stringContaining("jobs wait") });
    expect(group).not.toMatchObject({ help: expect.stringContaining("documents get") });
    expect(resolve(["jobs", "wait", "--help"])).toMatchObject({
      exitCode: EXIT.ok,
      help: expect.stringMatching(/^usage: edge-rag jobs wait/),
    });
  });
});

describe("edge-rag arguments (error)", () => {
  it("refuses unknown commands, unknown options and arguments to a command that takes none", () => {
    expect(() => resolve(["frobnicate"])).toThrow(UsageError);
    expect(() => resolve(["jobs", "frobnicate"])).toThrow(/unknown command: jobs frobnicate \(try: jobs get, jobs wait\)/);
    expect(() => resolve(["query", "x", "--no-such-option"])).toThrow(expect.objectContaining({ code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" }));
    expect(() => resolve(["keys", "list", "extra"])).toThrow(/takes no arguments/);
  });

  it("ingest: a source is required, and --batch-size is 1..1000 (checked before anything is read or sent)", async () => {
    const connection = { url: "http://127.0.0.1:9", key: "k" };
    await expect(ingestCommand([], connection)).rejects.toThrow(UsageError);
    for (const size of ["0", "1001", "2.5", "many"])
      await expect(ingestCommand(["docs/"], { ...connection, "batch-size": size })).rejects.toThrow(/--batch-size is 1\.\.1000/);
    await expect(ingestCommand(["/no/such/folder"], connection)).rejects.toThrow(/does not exist/);
  });
});
