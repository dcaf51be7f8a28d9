/**
 * edge-rag's command line: `edge-rag <command> [<subcommand>] [arguments] [options]`.
 *
 * Each command declares its options for node:util's parseArgs (built into Node, so the CLI has no
 * parser dependency); the first one or two words pick the command, the rest is parsed strictly
 * against that command's options. `edge-rag --help` lists every command, `<command> --help` shows
 * its own usage. Results go to stdout; progress and messages to stderr. Exit codes: see EXIT (api.ts).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { BENCH_DETAILS, BENCH_OPTIONS, benchCommand } from "../bench/command";
import { ApiFailure, EXIT } from "./api";
import {
  cachePurgeCommand,
  documentsDeleteCommand,
  documentsGetCommand,
  documentsListCommand,
  jobsGetCommand,
  jobsWaitCommand,
  keysListCommand,
  keysRevokeCommand,
  logoutCommand,
  migrateTenantDataCommand,
  queryCommand,
  reindexCommand,
  searchCommand,
  tenantsDeleteCommand,
} from "./api-commands";
import { createKeyCommand, createUserCommand, disableUserCommand, listUsersCommand, NotFound, resetPasswordCommand } from "./credentials";
import { doctorCommand } from "./doctor";
import { ingestCommand } from "./ingest";
import { UsageError } from "./usage-error";

type Values = Record<string, string | boolean | undefined>;

interface Command {
  /** e.g. ["keys", "create"] */
  words: string[];
  /** Arguments and options, as in the usage line. */
  synopsis: string;
  summary: string;
  /** Extra lines for `--help`. */
  details?: string;
  options: ParseArgsOptionsConfig;
  /** Whether it takes positional arguments (strict otherwise). */
  positionals?: boolean;
  run(positionals: string[], values: Values): Promise<void>;
}

const API: ParseArgsOptionsConfig = {
  url: { type: "string" },
  key: { type: "string" },
};
const JSON_OUTPUT: ParseArgsOptionsConfig = { json: { type: "boolean" } };
const D1: ParseArgsOptionsConfig = {
  env: { type: "string", default: "local" },
  "persist-to": { type: "string" },
};
const RETRIEVAL: ParseArgsOptionsConfig = {
  "top-k": { type: "string" },
  mode: { type: "string" },
  collection: { type: "string" },
  filters: { type: "string" },
  explain: { type: "boolean" },
  "no-cache": { type: "boolean" },
};
const API_NOTE =
  "  --url <url>   the worker (default: $EDGE_RAG_URL)\n  --key <key>   an API key or JWT (default: $EDGE_RAG_KEY, which keeps it out of `ps`)";
const D1_NOTE =
  "  --env local|staging|production   which D1: local is the one `npm start` uses (default), the others use `wrangler d1 execute --remote`\n  --persist-to <dir>               the local state directory (default: .wrangler/state)";
const RETRIEVAL_NOTE =
  '  --top-k <n>            how many sources\n  --mode hybrid|vector|keyword\n  --collection <c>       only this collection\n  --filters <json>       metadata filters, e.g. \'{"lang":{"$in":["en"]}}\'\n  --explain              per-retriever ranks and scores on each source\n  --no-cache             bypass the query cache';

const COMMANDS: Command[] = [
  {
    words: ["query"],
    synopsis:
      "<question…> [--top-k <n>] [--mode <m>] [--collection <c>] [--filters <json>] [--explain] [--no-cache] [--no-stream] [--json]",
    summary: "ask a question: the answer streams to the terminal, its sources below",
    details: `${RETRIEVAL_NOTE}\n  --no-stream            wait for the whole answer instead of streaming it\n  --json                 print the API's JSON response (no streaming), for scripts\n${API_NOTE}`,
    options: { ...API, ...RETRIEVAL, ...JSON_OUTPUT, "no-stream": { type: "boolean" } },
    positionals: true,
    run: queryCommand,
  },
  {
    words: ["search"],
    synopsis: "<query…> [--top-k <n>] [--mode <m>] [--collection <c>] [--filters <json>] [--group-by chunk|document] [--explain] [--json]",
    summary: "rank the tenant's chunks (or documents) for a query, without an answer",
    details: `${RETRIEVAL_NOTE}\n  --group-by document    one result per document\n  --json                 print the API's JSON response\n${API_NOTE}`,
    options: { ...API, ...RETRIEVAL, ...JSON_OUTPUT, "group-by": { type: "string" } },
    positionals: true,
    run: searchCommand,
  },
  {
    words: ["ingest"],
    synopsis: "<folder | file.md|.txt|.pdf|.html|.docx | file.jsonl[.gz]> [--collection <c>] [--batch-size <n>] [--restart]",
    summary: "bulk ingestion with progress, resumable, reporting failed documents (exit 2)",
    details: `Everything goes through POST /v1/documents/files, and the worker parses it. A folder is read for .md/.txt/.pdf/.html/.htm/.docx files: each is one document, sent as it is, with its path relative to the folder as its id (guides/install.md → guides_install.md) and as metadata.path. Markdown, HTML and DOCX are cut at their headings, so each chunk keeps its section; a PDF page by page, its page. A Markdown file's front-matter title or first # heading becomes metadata.title; the front matter is not indexed. Up to 20 files go in one request (fewer with a smaller --batch-size).\nA .jsonl (or .jsonl.gz) file holds one document per line, {"id","text","metadata"} or {"_id","title","text"}. Every line needs an id. Lines go in requests of --batch-size (default 100). A line the API refuses is listed as <file>#<line>.\nAccepted requests are remembered in .edge-rag-ingest/ so a rerun resumes (--restart forgets them).\n${API_NOTE}`,
    options: { ...API, collection: { type: "string" }, "batch-size": { type: "string" }, restart: { type: "boolean", default: false } },
    positionals: true,
    run: (positionals, values) => ingestCommand(positionals, values),
  },
  {
    words: ["reindex"],
    synopsis: "[<id…> | --collection <c>] [--no-wait] [--timeout <s>] [--json]",
    summary: "index stored documents again with no upload (after a model or chunking change; admin): files from their originals",
    details: `Every document (or the ids given, or --collection's) is re-chunked and re-embedded: one made from a file is parsed again from its original (kept in the files bucket), one sent as text from its stored text. Its current chunks answer queries until the new ones are in. Pages of 100 documents, one job each; then waits for the jobs (exit 2 if a document failed).\n  --collection <c>   only this collection\n  --no-wait          print the job ids and exit\n  --timeout <s>      stop waiting (exit 6) after this long (default 600)\n${API_NOTE}`,
    options: { ...API, ...JSON_OUTPUT, collection: { type: "string" }, "no-wait": { type: "boolean" }, timeout: { type: "string" } },
    positionals: true,
    run: reindexCommand,
  },
  {
    words: ["documents", "list"],
    synopsis: "[--collection <c>] [--status queued|indexed|failed] [--limit <n>] [--json]",
    summary: "list the tenant's documents (id, collection, status, chunks), in id order",
    details: `  --collection <c>   only this collection\n  --status <s>       only documents in this indexing state\n  --limit <n>        at most n documents (default: all, fetched a page at a time)\n  --json             print the documents as JSON\n${API_NOTE}`,
    options: { ...API, ...JSON_OUTPUT, collection: { type: "string" }, status: { type: "string" }, limit: { type: "string" } },
    run: documentsListCommand,
  },
  {
    words: ["documents", "get"],
    synopsis: "<id> [--json]",
    summary: "show a stored document and its chunk count",
    details: API_NOTE,
    options: { ...API, ...JSON_OUTPUT },
    positionals: true,
    run: documentsGetCommand,
  },
  {
    words: ["documents", "delete"],
    synopsis: "<id…>",
    summary: "delete documents (their chunks and vectors too)",
    details: API_NOTE,
    options: API,
    positionals: true,
    run: documentsDeleteCommand,
  },
  {
    words: ["jobs", "get"],
    synopsis: "<id> [--json]",
    summary: "show an ingestion job",
    details: API_NOTE,
    options: { ...API, ...JSON_OUTPUT },
    positionals: true,
    run: jobsGetCommand,
  },
  {
    words: ["jobs", "wait"],
    synopsis: "<id…> [--timeout <s>] [--json]",
    summary: "wait for jobs to finish, with progress; exit 2 if any failed",
    details: `  --timeout <s>   give up (exit 6) after this long (default 600)\n${API_NOTE}`,
    options: { ...API, ...JSON_OUTPUT, timeout: { type: "string" } },
    positionals: true,
    run: jobsWaitCommand,
  },
  {
    words: ["keys", "create"],
    synopsis:
      "--tenant <t> --roles <reader,writer,admin> [--name <n>] [--expires-in <s>] [--env local|staging|production] [--persist-to <dir>]",
    summary: "create an API key straight in D1 (how the first admin exists); the key alone on stdout's last line",
    details: D1_NOTE,
    options: { ...D1, tenant: { type: "string" }, roles: { type: "string" }, name: { type: "string" }, "expires-in": { type: "string" } },
    run: (_, values) => createKeyCommand(values),
  },
  {
    words: ["keys", "list"],
    synopsis: "[--json]",
    summary: "list the tenant's API keys (admin; never their secrets)",
    details: API_NOTE,
    options: { ...API, ...JSON_OUTPUT },
    run: keysListCommand,
  },
  {
    words: ["keys", "revoke"],
    synopsis: "<id…>",
    summary: "revoke API keys (admin); they stop working within seconds",
    details: API_NOTE,
    options: API,
    positionals: true,
    run: keysRevokeCommand,
  },
  {
    words: ["users", "create"],
    synopsis: "--tenant <t> --username <u> --roles <r,…> [--env …] [--persist-to <dir>]",
    summary:
      "create (or replace and re-enable, ending their tokens) a user in D1; the password from stdin, or generated and printed on a TTY",
    details: D1_NOTE,
    options: { ...D1, tenant: { type: "string" }, username: { type: "string" }, roles: { type: "string" } },
    run: (_, values) => createUserCommand(values),
  },
  {
    words: ["users", "list"],
    synopsis: "[--tenant <t>] [--json] [--env …] [--persist-to <dir>]",
    summary: "list users in D1 (never their password hashes)",
    details: D1_NOTE,
    options: { ...D1, ...JSON_OUTPUT, tenant: { type: "string" } },
    run: (_, values) => listUsersCommand(values),
  },
  {
    words: ["users", "disable"],
    synopsis: "--username <u> [--revoke-keys] [--env …] [--persist-to <dir>]",
    summary: "disable a user in D1: login refused, their tokens invalidated (users create re-enables)",
    details: `  --revoke-keys   also revoke the active API keys they created (keys belong to the tenant and outlive their creator otherwise); prints their ids\n${D1_NOTE}`,
    options: { ...D1, username: { type: "string" }, "revoke-keys": { type: "boolean", default: false } },
    run: (_, values) => disableUserCommand(values),
  },
  {
    words: ["users", "reset-password"],
    synopsis: "--username <u> [--env …] [--persist-to <dir>]",
    summary: "set a new password (stdin, or generated and printed on a TTY); earlier tokens stop working",
    details: D1_NOTE,
    options: { ...D1, username: { type: "string" } },
    run: (_, values) => resetPasswordCommand(values),
  },
  {
    words: ["logout"],
    synopsis: "",
    summary: "sign out: revoke the token in --key / $EDGE_RAG_KEY (a login or exchanged token; revoke an API key with keys revoke)",
    details: API_NOTE,
    options: API,
    run: logoutCommand,
  },
  {
    words: ["cache", "purge"],
    synopsis: "",
    summary: "empty the tenant's query cache (admin)",
    details: API_NOTE,
    options: API,
    run: cachePurgeCommand,
  },
  {
    words: ["tenants", "delete"],
    synopsis: "<tenant…> [--json]",
    summary: "delete whole tenants: their API keys and users, documents and index, vectors (operators: an admin key of OPERATOR_TENANT)",
    details: API_NOTE,
    options: { ...API, ...JSON_OUTPUT },
    positionals: true,
    run: tenantsDeleteCommand,
  },
  {
    words: ["migrate", "tenant-data"],
    synopsis: "[--tenant <t>] [--json]",
    summary:
      "copy tenants' rows from D1's shared tables into their objects ahead of traffic (each object also does it on first use); one line per tenant, exit 2 if any was not copied whole (operators)",
    details: `  --tenant <t>   only this tenant (default: every tenant D1's shared tables hold rows of)\n${API_NOTE}`,
    options: { ...API, ...JSON_OUTPUT, tenant: { type: "string" } },
    run: migrateTenantDataCommand,
  },
  {
    words: ["bench"],
    synopsis:
      "[--docs <n>] [--requests <n>] [--levels <list>] [--batch-sizes <list>] [--load <n> [--concurrency <c>]] [--only <sections>] [--no-cold-start] [--out <dir>] [--worker-var <NAME=VALUE>]… [--url <url> --key <key>]",
    summary: "benchmark: ingestion rate, query latency and throughput, memory, cold start; a Markdown report with charts",
    details: BENCH_DETAILS,
    options: BENCH_OPTIONS,
    run: (_, values) => benchCommand(values),
  },
  {
    words: ["doctor"],
    synopsis: "--env staging|production [--offline] [--require-online] [--config <wrangler.toml>]",
    summary: "the deploy preflight: one line per check, exit 1 on a failure",
    options: {
      env: { type: "string" },
      offline: { type: "boolean", default: false },
      "require-online": { type: "boolean", default: false },
      config: { type: "string" },
    },
    run: (_, values) => doctorCommand(values),
  },
];

export const EXIT_CODES = `exit codes:
  0   ok
  1   unexpected error (a bug, an unreadable answer)
  2   partly failed: documents that could not be indexed, a job that failed
  3   not authenticated or not allowed (401/403)
  4   not found (404, or no such user)
  5   refused by the API (400 validation, 409, 413, 429 after retries, quota)
  6   API unreachable, timed out or 5xx (after retries)
  64  usage error (unknown command or option, missing argument)
  (doctor exits 1 when a check fails)`;

const usageLine = (command: Command) => `edge-rag ${command.words.join(" ")}${command.synopsis ? ` ${command.synopsis}` : ""}`;

function overview(commands = COMMANDS): string {
  const width = Math.max(...commands.map((command) => command.words.join(" ").length));
  return `usage: edge-rag <command> [arguments] [options]   (edge-rag <command> --help for its options)

commands:
${commands.map((command) => `  ${command.words.join(" ").padEnd(width)}  ${command.summary}`).join("\n")}

environment:
  EDGE_RAG_URL   the worker's URL (instead of --url), e.g. http://127.0.0.1:8787
  EDGE_RAG_KEY   an API key or JWT (instead of --key)
  NO_COLOR       no colour even on a terminal (colour is only ever used on a terminal)

${EXIT_CODES}`;
}

function commandHelp(command: Command): string {
  return `usage: ${usageLine(command)}\n\n${command.summary}${command.details ? `\n\n${command.details}` : ""}\n\n${EXIT_CODES}`;
}

/** Finds the command and parses its arguments; returns what to print when there is nothing to run. */
export function resolve(argv: string[]): { help: string; exitCode: number } | { command: Command; positionals: string[]; values: Values } {
  const [first, second] = argv;
  if (first === undefined) return { help: overview(), exitCode: EXIT.usage };
  if (first === "--help" || first === "-h" || first === "help") return { help: overview(), exitCode: EXIT.ok };
  const group = COMMANDS.filter((command) => command.words[0] === first);
  if (group.length === 0) throw new UsageError(`unknown command: ${first}`);
  let command = group.find((candidate) => candidate.words.length === 1);
  let rest = argv.slice(1);
  if (!command) {
    if (second === undefined || second === "--help" || second === "-h")
      return { help: overview(group), exitCode: second === undefined ? EXIT.usage : EXIT.ok };
    command = group.find((candidate) => candidate.words[1] === second);
    if (!command) throw new UsageError(`unknown command: ${first} ${second} (try: ${group.map((c) => c.words.join(" ")).join(", ")})`);
    rest = argv.slice(2);
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: { ...command.options, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return { help: commandHelp(command), exitCode: EXIT.ok };
  if (!command.positionals && positionals.length > 0)
    throw new UsageError(`edge-rag ${command.words.join(" ")} takes no arguments (got ${positionals.join(" ")})`);
  return { command, positionals, values: values as Values };
}

async function main(argv: string[]): Promise<void> {
  let resolved: ReturnType<typeof resolve>;
  try {
    resolved = resolve(argv);
  } catch (error) {
    if (isUsageError(error)) {
      console.error(`edge-rag: ${(error as Error).message}\n\nedge-rag --help lists the commands`);
      process.exit(EXIT.usage);
    }
    throw error;
  }
  if ("help" in resolved) {
    (resolved.exitCode === EXIT.ok ? console.log : console.error)(resolved.help);
    process.exitCode = resolved.exitCode;
    return;
  }
  const { command, positionals, values } = resolved;
  try {
    await command.run(positionals, values);
  } catch (error) {
    if (isUsageError(error)) {
      console.error(`edge-rag: ${(error as Error).message}\n\nusage: ${usageLine(command)}`);
      process.exit(EXIT.usage);
    }
    throw error;
  }
}

const isUsageError = (error: unknown) =>
  error instanceof UsageError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"));

// Run only as the program (edge-rag.mjs), not when a test imports resolve.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`edge-rag: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof ApiFailure ? error.exitCode : error instanceof NotFound ? EXIT.notFound : EXIT.error);
  });
}
