import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import { ROOT } from "../../tools/stack/paths";

/** What several end-to-end tests do to a stack they started: a key from its D1, documents indexed. */
const run = promisify(execFile);

/** `edge-rag keys create` on the stack's D1 (its state directory): the key, from the last line of stdout. */
export async function createKeyOnStack(stateDir: string, tenant: string, roles: string): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [join(ROOT, "tools/cli/edge-rag.mjs"), "keys", "create", "--tenant", tenant, "--roles", roles, "--persist-to", stateDir],
    { cwd: ROOT },
  );
  return stdout.trim().split("\n").at(-1)!;
}

/** POST /v1/documents, then polls the job until it is done (a failed job or two minutes fail the test). */
export async function ingestAndWait(url: string, key: string, documents: Array<{ id: string; text: string }>): Promise<void> {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const accepted = await fetch(`${url}/v1/documents`, { method: "POST", headers, body: JSON.stringify({ documents }) });
  expect(accepted.status, await accepted.clone().text()).toBe(202);
  const { job_id } = (await accepted.json()) as { job_id: string };
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    const job = (await (await fetch(`${url}/v1/jobs/${job_id}`, { headers })).json()) as { status: string };
    if (job.status === "done") return;
    if (job.status === "failed") throw new Error(`ingest job failed: ${JSON.stringify(job)}`);
  }
  throw new Error(`ingest job ${job_id} did not finish`);
}
