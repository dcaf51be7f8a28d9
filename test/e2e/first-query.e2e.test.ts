import { execFile } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueryResponse } from "../../src/query/schemas";
import { freePort } from "../../tools/lib/ports";
import { ROOT } from "../../tools/stack/paths";
import { type Stack, startStack } from "../../tools/stack/stack";

/**
 * The README's first ten minutes, as written there: its `keys create`, `ingest` and query commands
 * are read from README.md (so the README cannot drift from what is tested) and run against the
 * real local stack on a free port with its own state directory. The sample corpus is the user
 * guide in docs/guide; the answer must be prose that says how to rotate a key, citing the page.
 */
const run = promisify(execFile);
let stack: Stack;
let stateDir: string;
let workDir: string;

/** The README's shell block that follows "First admin credential". */
function readmeWalkthrough(): { keysCreate: string[]; ingestFolder: string; queryBody: Record<string, unknown>; firstSentence: string } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /First admin credential[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no shell block after 'First admin credential'");
  const keysCreate = /^npx edge-rag (keys create [^#\n]*?)\s*(#.*)?$/m.exec(block)?.[1]?.split(/\s+/);
  const ingestFolder = /^npx edge-rag ingest (\S+)/m.exec(block)?.[1];
  const body = /-d '(\{[^']*\})'/.exec(block)?.[1];
  // The answer the README shows, up to its first citation.
  const firstSentence = /```json\n\{"answer": "([^"]*?\[1\])/.exec(readme.slice(readme.indexOf(block)))?.[1];
  if (!keysCreate || !ingestFolder || !body || !firstSentence) throw new Error(`README's walkthrough changed shape:\n${block}`);
  return { keysCreate, ingestFolder, queryBody: JSON.parse(body), firstSentence };
}

const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), ...args], {
    cwd: workDir,
    env: { ...process.env, EDGE_RAG_URL: stack.url, ...env },
  });

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "edge-rag-first-query-"));
  workDir = join(stateDir, "work");
  mkdirSync(workDir);
  stack = await startStack({
    port: await freePort(),
    stateDir,
    log: (component, line) => appendFileSync(join(stateDir, "stack.log"), `[${component}] ${line}\n`),
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe("README: first admin credential, then a first question", () => {
  it("ingests the sample corpus and answers the README's question in prose, citing the API keys page", async () => {
    const { keysCreate, ingestFolder, queryBody, firstSentence } = readmeWalkthrough();
    expect(ingestFolder).toBe("docs/guide/");
    // As written, except that the stack under test keeps its state in its own directory.
    const created = await cli([...keysCreate, "--persist-to", stateDir]);
    const key = created.stdout.trim().split("\n").at(-1)!;
    expect(key).toMatch(/^erk_/);

    const ingested = await cli(["ingest", join(ROOT, ingestFolder), "--url", stack.url], { EDGE_RAG_KEY: key });
    const summary = JSON.parse(ingested.stdout);
    expect(summary.failed).toEqual([]);
    expect(summary.documents).toBeGreaterThanOrEqual(6);

    const response = await fetch(`${stack.url}/v1/query`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(queryBody),
    });
    expect(response.status).toBe(200);
    const { answer, sources, metadata } = (await response.json()) as QueryResponse;
    expect(metadata.degraded).toBe(false);
    // The instruction itself, as a sentence, and as the README shows it.
    expect(answer).toMatch(/To rotate an API key, create a new key[^.]*then revoke the old key/);
    expect(answer.startsWith(firstSentence), `README shows: ${firstSentence}\nanswer: ${answer}`).toBe(true);
    // Prose: no table cells, code spans or fences, headings, list markers or link syntax.
    expect(answer).not.toMatch(/\||`|^#|\n#|(^|\n)\s*[-*] |\]\(/);
    // Cited, and the citation is the API keys page.
    const cited = [...answer.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.map((n) => sources[n - 1]?.document_id)).toContain("api-keys.md");
    expect(sources[cited[0]! - 1]!.document_id).toBe("api-keys.md");
  });
});
