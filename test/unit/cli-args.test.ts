import { describe, expect, it } from "vitest";
import { EXIT } from "../../tools/cli/api";
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
});
