import { expect, inject } from "vitest";
import { call, json, tenantObject, tenantSql } from "./helpers";

/**
 * Shared by the ingestion suites: a few real paragraphs and helpers to wait for jobs. The texts
 * are short factual paragraphs written for these tests: the shared evaluation data
 * (../shared/data) must not be copied into the repository, and the worker runtime cannot read it.
 */
export const PARAGRAPHS = {
  lighthouse:
    "The Lighthouse of Alexandria stood on the island of Pharos at the entrance to the harbour of Alexandria in Egypt. " +
    "It was built in the third century BC under the Ptolemaic kings and was for centuries one of the tallest structures made by people. " +
    "Earthquakes between the tenth and fourteenth centuries damaged it, and its remaining stones were reused in the Citadel of Qaitbay.",
  glaciers:
    "A glacier forms where more snow falls in winter than melts in summer, so that the snow accumulates year after year and is compressed into ice. " +
    "Under its own weight the ice begins to flow slowly downhill, carving valleys with a characteristic U shape. " +
    "Many mountain glaciers have retreated since the middle of the nineteenth century as average temperatures have risen.",
  printing:
    "Johannes Gutenberg, a goldsmith from Mainz, introduced printing with movable metal type to Europe around 1450. " +
    "His press combined type cast from a lead alloy, an oil-based ink and a screw press adapted from wine making. " +
    "The Gutenberg Bible, completed around 1455, is the best known book produced with the new method.",
  volcano:
    "Mount Vesuvius is a volcano on the Gulf of Naples in southern Italy. Its eruption in the year 79 buried the Roman towns of Pompeii and Herculaneum under ash and pumice. " +
    "Pliny the Younger watched the eruption from across the bay and described it in two letters to the historian Tacitus.",
} as const;

export interface JobBody {
  id: string;
  status: "queued" | "processing" | "done" | "failed";
  documents: number;
  processed: number;
  skipped: number;
  failed: number;
  chunks: number;
  errors: Array<{ document_id: string; error: string }>;
  outcomes: Array<{ document_id: string; status: "queued" | "done" | "skipped" | "failed"; chunks?: number; error?: string }>;
  index_version: number;
  created_at: string;
  updated_at: string;
}

/** Polls GET /v1/jobs/{id} until the job is finished (done or failed), gently enough for the query rate limit. */
export async function waitForJob(key: string, jobId: string, timeoutMs = 25_000): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  let last: JobBody | undefined;
  while (Date.now() < deadline) {
    const response = await call(`/v1/jobs/${jobId}`, { auth: key });
    expect(response.status).toBe(200);
    last = await json<JobBody>(response);
    if (last.status === "done" || last.status === "failed") return last;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  throw new Error(`job ${jobId} did not finish in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/** POSTs documents and returns the 202 body. */
export async function ingest(key: string, body: unknown): Promise<{ job_id: string; accepted: number; status_url: string }> {
  const response = await call("/v1/documents", { auth: key, body });
  expect(response.status, await response.clone().text()).toBe(202);
  return json(response);
}

/** The chunk rows the tenant's object holds for a document. */
export function chunkRows(
  tenant: string,
  documentId: string,
): Promise<Array<{ id: string; chunk_index: number; text: string; collection: string }>> {
  return tenantSql(tenant, "SELECT id, chunk_index, text, collection FROM chunks WHERE document_id = ?1 ORDER BY chunk_index", documentId);
}

export async function indexVersion(tenant: string): Promise<number> {
  return (await tenantObject(tenant).stats()).index_version;
}

/** The Markdown file of `uploadLocatedFiles`: its fact sits under the heading path Installation › Upgrades. */
export const LOCATED_MARKDOWN_FACT = "The pelican agent upgrades itself every second Tuesday.";
const LOCATED_MARKDOWN = `# Installation

Install the agent on each host first.

## Upgrades

${LOCATED_MARKDOWN_FACT}
`;

/**
 * Uploads two files through POST /v1/documents/files, as a browser sends them, and waits for their
 * job: the global setup's three-page PDF (`plant-report.pdf`, its fact PDF_FACT on page 3, test-files.ts) and a
 * Markdown file (`install.md`, LOCATED_MARKDOWN_FACT under Installation › Upgrades). Their sources
 * carry `page` and `section`; the suites of each surface that returns sources check that it keeps them.
 */
export async function uploadLocatedFiles(key: string, collection: string): Promise<void> {
  const pdf = Uint8Array.from(atob(inject("testFiles").pdf), (c) => c.charCodeAt(0));
  const form = new FormData();
  form.append("file", new File([pdf], "plant-report.pdf", { type: "application/pdf" }));
  form.append("file", new File([LOCATED_MARKDOWN], "install.md", { type: "text/markdown" }));
  form.append("collection", collection);
  const response = await call("/v1/documents/files", { auth: key, body: form });
  expect(response.status, await response.clone().text()).toBe(202);
  const job = await waitForJob(key, (await json<{ job_id: string }>(response)).job_id);
  expect(job).toMatchObject({ status: "done", processed: 2, failed: 0 });
}
