import { createWriteStream, type WriteStream } from "node:fs";
import { createApiKey } from "../cli/credentials";
import { freePort } from "../lib/ports";
import { type Stack, startStack } from "../stack/stack";

/**
 * The local stack a benchmark measures: free ports, the caller's state directory, every rate limit
 * lifted (it is one client measuring, not a tenant being limited), each component's output appended
 * to `logFile` (where a restart, an error or a 5xx's request id can be looked up), and an admin key
 * for `tenant`. The caller stops the stack and then calls `closeLog`; if starting fails, both are
 * done here before the error is rethrown.
 */
export async function startMeasuredStack(options: {
  stateDir: string;
  logFile: string;
  tenant: string;
  /** Set over the bench's own (a setting being measured). */
  workerVars?: Record<string, string>;
}): Promise<{ stack: Stack; key: string; closeLog: () => void }> {
  let log: WriteStream | undefined;
  const closeLog = () => log?.end();
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      port: await freePort(),
      stateDir: options.stateDir,
      workerVars: {
        RATE_LIMIT_QUERY: "10000000/60s",
        RATE_LIMIT_INGEST: "10000000/60s",
        TENANT_RATE_LIMIT_QUERY: "10000000/60s",
        TENANT_RATE_LIMIT_INGEST: "10000000/60s",
        ...options.workerVars,
      },
      log: (component, line) => {
        log ??= createWriteStream(options.logFile);
        log.write(`[${component}] ${line}\n`);
      },
    });
    const { key } = await createApiKey({ tenant: options.tenant, roles: "admin", name: options.tenant, "persist-to": options.stateDir });
    return { stack, key, closeLog };
  } catch (error) {
    await stack?.stop();
    closeLog();
    throw error;
  }
}
