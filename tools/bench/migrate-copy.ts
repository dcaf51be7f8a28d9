import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { wrangler } from "../stack/wrangler";
import { startMeasuredStack } from "./local-stack";

/**
 * How fast the copy from D1 (edge-rag migrate tenant-data, or the object's start) moves a tenant
 * of a deployment from before issue 23 into its object, and that a tenant too large for one slice
 * (TENANT_COPY_SLICE_MS, 20 s: a start is stopped at 30 s) is copied across calls.
 *
 *   npm run bench:migrate-copy -- [--documents 500,2000,8000] [--text-bytes 5000]
 *
 * For each size it writes a tenant's rows into the local stack's D1 as the worker before issue 23
 * held them (documents of `--text-bytes` characters, split into chunks of ~1,000 characters), then
 * calls POST /v1/tenants/{tenant}/migrate-data until the copy is done, as the command does. Locally
 * D1 is a file next to the object; deployed, every page is a round trip from the object to D1's
 * primary, so a deployment copies slower (and in more slices).
 */
const { values } = parseArgs({
  options: { documents: { type: "string", default: "500,2000,8000" }, "text-bytes": { type: "string", default: "5000" } },
});
const sizes = values.documents.split(",").map(Number);
const textBytes = Number(values["text-bytes"]);
const CHUNK_CHARS = 1_000;

const WORDS = "glacier harbour lighthouse eruption observatory telescope variable press ink valley snow dome crank logbook".split(" ");
/** Text of `length` characters from a fixed vocabulary, different for each `seed`. */
function textOf(seed: number, length: number): string {
  let text = "";
  for (let i = 0; text.length < length; i++) text += `${WORDS[(seed * 7 + i * 13) % WORDS.length]} `;
  return text.slice(0, length);
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** A tenant's rows in D1's shared tables, as the worker before issue 23 wrote them (an indexed document and its chunks each). */
function legacyRowsSql(tenant: string, documents: number, seqBase: number): string {
  const statements = [
    `INSERT INTO tenants (tenant, index_version, updated_at, embedding_model, cache_epoch) VALUES (${quote(tenant)}, ${documents}, 1, 'universal-sentence-encoder-lite', 0);`,
  ];
  let seq = seqBase;
  for (let d = 0; d < documents; d++) {
    const id = `doc-${d}`;
    const text = textOf(d, textBytes);
    const hash = `h${d}`;
    const chunks = Math.ceil(text.length / CHUNK_CHARS);
    statements.push(
      `INSERT INTO documents (tenant, id, collection, text, metadata, accepted_metadata, content_hash, indexed_hash, revision, status, chunk_count, created_at, updated_at) ` +
        `VALUES (${quote(tenant)}, ${quote(id)}, 'default', ${quote(text)}, '{"title":"Document ${d}"}', '{"title":"Document ${d}"}', ${quote(hash)}, ${quote(hash)}, ${quote(hash)}, 'indexed', ${chunks}, 1, 1);`,
    );
    for (let c = 0; c < chunks; c++) {
      const start = c * CHUNK_CHARS;
      const end = Math.min(text.length, start + CHUNK_CHARS);
      statements.push(
        `INSERT INTO chunks (seq, id, tenant, document_id, collection, chunk_index, text, start_offset, end_offset, title) ` +
          `VALUES (${seq++}, ${quote(`c_${tenant}_${d}_${c}`)}, ${quote(tenant)}, ${quote(id)}, 'default', ${c}, ${quote(text.slice(start, end))}, ${start}, ${end}, ${quote(`Document ${d}`)});`,
      );
    }
  }
  return statements.join("\n");
}

const stateDir = mkdtempSync(join(tmpdir(), "edge-rag-migrate-copy-"));
const operator = "ops";
const { stack, key, closeLog } = await startMeasuredStack({
  stateDir,
  logFile: join(stateDir, "stack.log"),
  tenant: operator,
  workerVars: { OPERATOR_TENANT: operator },
});
const rows: string[] = [];
try {
  for (const [i, documents] of sizes.entries()) {
    const tenant = `copy-${documents}`;
    const file = join(stateDir, `${tenant}.sql`);
    writeFileSync(file, legacyRowsSql(tenant, documents, (i + 1) * 10_000_000));
    process.stderr.write(`writing ${documents} documents of ${tenant} into D1…\n`);
    await wrangler(["d1", "execute", "DB", "--local", "--persist-to", stateDir, "--file", file]);
    const started = performance.now();
    let calls = 0;
    let body: { status?: string; source?: { counts: Record<string, number> } };
    do {
      calls++;
      const response = await fetch(`${stack.url}/v1/tenants/${tenant}/migrate-data`, { method: "POST", headers: { "x-api-key": key } });
      body = (await response.json()) as typeof body;
      if (response.status !== 200) throw new Error(`${tenant}: ${response.status} ${JSON.stringify(body)}`);
    } while (body.status === "copying");
    const seconds = (performance.now() - started) / 1000;
    if (body.status !== "copied") throw new Error(`${tenant}: ${JSON.stringify(body)}`);
    const megabytes = (documents * textBytes * 2) / 1e6; // each document's text once in documents, once across its chunks
    rows.push(
      `| ${documents} | ${body.source!.counts.chunks} | ${megabytes.toFixed(1)} | ${calls} | ${seconds.toFixed(2)} | ${(documents / seconds).toFixed(0)} | ${(megabytes / seconds).toFixed(1)} |`,
    );
  }
} finally {
  await stack.stop();
  closeLog();
  rmSync(stateDir, { recursive: true, force: true });
}
process.stdout.write(
  [
    `Copy from D1 into a tenant's object (POST /v1/tenants/{tenant}/migrate-data, called until done: copy, then D1 read again to check), documents of ${textBytes} characters:`,
    "",
    "| documents | chunks | text MB | calls (slices) | seconds | documents/s | MB/s |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n"),
);
