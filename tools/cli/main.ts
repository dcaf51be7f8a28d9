/**
 * edge-rag's command line.
 *
 *   edge-rag keys create --tenant <t> --roles <r,…> [--name <n>] [--expires-in <seconds>]
 *                        [--env local|staging|production] [--persist-to <dir>]
 *   edge-rag users create --tenant <t> --username <u> --roles <r,…> [--env …] [--persist-to <dir>]
 *                        (the password is read from stdin, or generated and printed when stdin is a TTY)
 *   edge-rag ingest <file.jsonl | folder> --url <worker url> --key <api key> [--collection <c>]
 *                        [--batch-size <n>] [--restart]
 *   edge-rag doctor --env staging|production [--offline] [--require-online] [--config <wrangler.toml>]
 *                        (the deploy preflight: one line per check, exit 1 on a failure)
 *
 * Results go to stdout (a created key alone on the last line); progress and messages to stderr.
 */
import { parseArgs } from "node:util";
import { createKeyCommand, createUserCommand } from "./credentials";
import { doctorCommand } from "./doctor";
import { ingestCommand } from "./ingest";
import { UsageError } from "./usage-error";

const USAGE = `usage:
  edge-rag keys create --tenant <t> --roles <reader,writer,admin> [--name <n>] [--expires-in <s>] [--env local|staging|production] [--persist-to <dir>]
  edge-rag users create --tenant <t> --username <u> --roles <r,…> [--env …] [--persist-to <dir>]
  edge-rag ingest <file.jsonl | folder> --url <worker url> --key <api key> [--collection <c>] [--batch-size <n>] [--restart]
  edge-rag doctor --env staging|production [--offline] [--require-online] [--config <wrangler.toml>]`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      tenant: { type: "string" },
      roles: { type: "string" },
      name: { type: "string" },
      username: { type: "string" },
      "expires-in": { type: "string" },
      env: { type: "string", default: "local" },
      "persist-to": { type: "string" },
      url: { type: "string" },
      key: { type: "string" },
      collection: { type: "string" },
      "batch-size": { type: "string" },
      restart: { type: "boolean", default: false },
      offline: { type: "boolean", default: false },
      "require-online": { type: "boolean", default: false },
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, subcommand, ...rest] = positionals;
  if (values.help || !command) {
    console.error(USAGE);
    return;
  }
  if (command === "keys" && subcommand === "create") return createKeyCommand(values);
  if (command === "users" && subcommand === "create") return createUserCommand(values);
  if (command === "doctor") return doctorCommand(values);
  if (command === "ingest") return ingestCommand([subcommand, ...rest].filter(Boolean) as string[], values);
  throw new UsageError(`unknown command: ${positionals.join(" ")}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"))) {
    console.error(`edge-rag: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(64);
  }
  console.error(`edge-rag: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
