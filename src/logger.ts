/**
 * One structured logger: a JSON object per line on the console, which Workers Logs (and
 * `wrangler tail`, and workerd locally) index by field. Callers pass explicit fields; nothing logs
 * headers, bodies or the environment, and fields whose name suggests a credential are redacted
 * anyway, so a secret cannot reach the logs by a careless call.
 */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** The same logger with these fields on every line (e.g. the request id). */
  with(fields: LogFields): Logger;
}

export type LogFields = Record<string, unknown>;

const CREDENTIAL_FIELD = /secret|password|token|authorization|api_?key$|cookie/i;

// Looked up on each call, so that a console replaced later (tests, tail workers) receives the lines.
const sinks = {
  debug: (line: string) => console.debug(line),
  info: (line: string) => console.log(line),
  warn: (line: string) => console.warn(line),
  error: (line: string) => console.error(line),
} as const;

export function createLogger(base: LogFields = {}): Logger {
  const write =
    (level: keyof typeof sinks) =>
    (msg: string, fields: LogFields = {}) => {
      sinks[level](JSON.stringify({ level, msg, ...redact(base), ...redact(fields) }));
    };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    with: (fields) => createLogger({ ...base, ...fields }),
  };
}

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [name, value] of Object.entries(fields)) out[name] = CREDENTIAL_FIELD.test(name) ? "[redacted]" : value;
  return out;
}

/**
 * An error as log fields: its name, code and message (ours never carry secrets or upstream
 * bodies), and its cause's, cut to a readable length.
 */
export function errorFields(error: unknown): LogFields {
  if (!(error instanceof Error)) return { error: String(error).slice(0, 300) };
  const code = "code" in error && typeof error.code === "string" ? { code: error.code } : {};
  const cause = error.cause instanceof Error ? { cause: `${error.cause.name}: ${error.cause.message}`.slice(0, 300) } : {};
  return { error: `${error.name}: ${error.message}`.slice(0, 300), ...code, ...cause };
}

/** The isolate's logger, for code that runs outside a request (queue, cron). */
export const log = createLogger();
