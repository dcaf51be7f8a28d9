/**
 * Documents: upload files (.md/.txt: one document each, the file name as its id; .jsonl: one per
 * line, `{"id","text","metadata"}` or BEIR's `{"_id","title","text"}`, as the CLI reads them) or a
 * pasted text into a collection; follow each ingestion job (GET /v1/jobs/{id}) until it ends; list
 * the stored documents (GET /v1/documents, a page at a time, by collection and status), open and
 * delete them.
 */

import { fileDocument, jsonLineDocument } from "../ingest/source-files";
import { api, messageOf, ok, type Schemas } from "./api";
import { announce, busy, byId, formatDate, h } from "./dom";

type DocumentInput = Schemas["DocumentInput"];
type Job = Schemas["Job"];

/** The API's limits per request (1,000 documents, a 10 MiB body): larger uploads go in several. */
const BATCH_DOCUMENTS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
const POLL_MS = 1000;

export function setupDocuments(): void {
  const form = byId<HTMLFormElement>("upload-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, byId("upload-error"), upload, messageOf);
  });
  const list = byId<HTMLFormElement>("list-form");
  list.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(list, byId("documents-error"), () => loadDocuments(), messageOf);
  });
  byId("more-documents").addEventListener("click", () => {
    loadDocuments(nextCursor).catch((error) => {
      byId("documents-error").textContent = messageOf(error);
    });
  });
  const lookup = byId<HTMLFormElement>("lookup-form");
  lookup.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = byId<HTMLInputElement>("lookup-id").value.trim();
    if (id) void busy(lookup, byId("documents-error"), () => openDocument(id), messageOf);
  });
}

async function upload(): Promise<void> {
  const collection = byId<HTMLInputElement>("upload-collection").value.trim() || undefined;
  const documents: DocumentInput[] = [];
  const files = byId<HTMLInputElement>("files");
  for (const file of files.files ?? []) documents.push(...(await readFile(file)));
  const text = byId<HTMLTextAreaElement>("paste-text").value;
  if (text.trim()) {
    const id = byId<HTMLInputElement>("paste-id").value.trim();
    // Read as a file of that name would be (an id ending in .md gets its Markdown title), keeping the id as typed.
    documents.push(id ? { ...fileDocument(id, text), id } : { text });
  }
  if (documents.length === 0) throw new Error("Choose files or paste a text to upload.");
  for (const batch of batches(documents)) {
    const accepted = await ok(api.POST("/v1/documents", { body: { documents: batch, ...(collection ? { collection } : {}) } }));
    void followJob(accepted.job_id, accepted.accepted);
  }
  files.value = "";
  byId<HTMLTextAreaElement>("paste-text").value = "";
  byId<HTMLInputElement>("paste-id").value = "";
  announce(`${documents.length} document${documents.length === 1 ? "" : "s"} accepted`);
}

async function readFile(file: File): Promise<DocumentInput[]> {
  const text = await file.text();
  if (!file.name.toLowerCase().endsWith(".jsonl")) return [fileDocument(file.name, text)];
  const documents: DocumentInput[] = [];
  for (const [index, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      throw new Error(`${file.name}, line ${index + 1}: not JSON`);
    }
    const document = jsonLineDocument(record);
    if (typeof document === "string") throw new Error(`${file.name}, line ${index + 1}: ${document}`);
    documents.push(document);
  }
  return documents;
}

function* batches(documents: DocumentInput[]): Generator<DocumentInput[]> {
  let batch: DocumentInput[] = [];
  let bytes = 0;
  for (const document of documents) {
    const size = JSON.stringify(document).length * 3;
    if (batch.length > 0 && (batch.length >= BATCH_DOCUMENTS || bytes + size > BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(document);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** One list item per job, updated until the job is done or failed. */
async function followJob(jobId: string, accepted: number): Promise<void> {
  byId("jobs-empty").hidden = true;
  const progress = h("progress", { max: String(accepted), value: "0", "aria-label": `job ${jobId} progress` });
  const state = h("span", { class: "job-state" }, "queued");
  const detail = h("span", { class: "hint" });
  const item = h("li", { "data-job": jobId }, h("code", {}, jobId), " ", state, progress, detail);
  byId("jobs").prepend(item);
  for (;;) {
    let job: Job;
    try {
      job = await ok(api.GET("/v1/jobs/{id}", { params: { path: { id: jobId } } }));
    } catch (error) {
      state.textContent = "unknown";
      detail.textContent = messageOf(error);
      return;
    }
    const finished = job.processed + job.skipped + job.failed;
    progress.max = job.documents;
    progress.value = finished;
    state.textContent = job.status;
    state.dataset.status = job.status;
    detail.textContent = `${finished}/${job.documents} documents · ${job.chunks} chunks${job.failed ? ` · ${job.failed} failed` : ""}`;
    if (job.status === "done" || job.status === "failed") {
      if (job.errors.length > 0)
        item.append(h("ul", { class: "job-errors" }, ...job.errors.map((e) => h("li", {}, `${e.document_id}: ${e.error}`))));
      announce(`job ${job.status}: ${finished} of ${job.documents} documents`);
      await loadDocuments().catch(() => {});
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Deleting is a writer route: readers get no Delete buttons (set when the session starts). */
let canDelete = false;
export function allowDeletes(allowed: boolean): void {
  canDelete = allowed;
}

const PAGE_SIZE = 50;
/** The cursor of the next page of the list on show; null when it is the last. */
let nextCursor: string | null = null;

/** The first page of the list (or, with a cursor, the next one appended to it). */
export async function loadDocuments(cursor: string | null = null): Promise<void> {
  const collection = byId<HTMLInputElement>("list-collection").value.trim();
  const status = byId<HTMLSelectElement>("list-status").value as "" | Schemas["Document"]["status"];
  const page = await ok(
    api.GET("/v1/documents", {
      params: {
        query: { limit: PAGE_SIZE, ...(collection ? { collection } : {}), ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) },
      },
    }),
  );
  const body = byId("documents-table").querySelector("tbody")!;
  const rows = page.documents.map(documentRow);
  if (cursor) body.append(...rows);
  else body.replaceChildren(...rows);
  if (body.children.length === 0) body.replaceChildren(h("tr", {}, h("td", { colspan: "7" }, "No documents.")));
  nextCursor = page.next_cursor;
  byId("more-documents").hidden = nextCursor === null;
}

/** A document's `metadata.title` when it has a non-blank one, as `edge-rag ingest` and the upload set it. */
const titleOf = (document: Schemas["DocumentSummary"]) =>
  typeof document.metadata.title === "string" && document.metadata.title.trim() ? document.metadata.title : null;

function documentRow(document: Schemas["DocumentSummary"]): HTMLTableRowElement {
  const open = h("button", { type: "button", class: "secondary small", "aria-label": `Open ${document.id}` }, "Open");
  const remove = h("button", { type: "button", class: "danger small", "aria-label": `Delete ${document.id}` }, "Delete");
  const row = h(
    "tr",
    { "data-document-id": document.id },
    h("td", { "data-label": "Id" }, h("code", {}, document.id)),
    h("td", { "data-label": "Title", class: "document-title", title: titleOf(document) ?? "" }, titleOf(document) ?? "—"),
    h("td", { "data-label": "Collection" }, document.collection),
    h("td", { "data-label": "Status", class: `state-${document.status}` }, document.status),
    h("td", { "data-label": "Chunks" }, String(document.chunk_count)),
    h("td", { "data-label": "Updated" }, formatDate(document.updated_at)),
    h("td", {}, h("div", { class: "actions" }, open, canDelete && remove)),
  );
  open.addEventListener("click", () => {
    openDocument(document.id).catch((error) => {
      byId("documents-error").textContent = messageOf(error);
    });
  });
  remove.addEventListener("click", () => void deleteDocument(document.id, row));
  return row;
}

async function openDocument(id: string): Promise<void> {
  const detail = byId("document-detail");
  detail.replaceChildren();
  const document = await ok(api.GET("/v1/documents/{id}", { params: { path: { id } } }));
  detail.replaceChildren(renderDocument(document));
  detail.querySelector("h4")?.focus();
}

function renderDocument(document: Schemas["Document"]): HTMLElement {
  const remove = h("button", { type: "button", class: "danger" }, `Delete ${document.id}`);
  const box = h(
    "article",
    { class: "document", "aria-label": `document ${document.id}` },
    h("h4", { tabindex: "-1" }, document.id),
    h(
      "dl",
      { class: "facts" },
      ...(titleOf(document) === null ? [] : [h("dt", {}, "Title"), h("dd", {}, titleOf(document))]),
      h("dt", {}, "Collection"),
      h("dd", {}, document.collection),
      h("dt", {}, "Status"),
      h("dd", {}, document.status),
      h("dt", {}, "Chunks"),
      h("dd", {}, String(document.chunk_count)),
      h("dt", {}, "Updated"),
      h("dd", {}, formatDate(document.updated_at)),
    ),
    h("blockquote", {}, document.text.length > 600 ? `${document.text.slice(0, 600)}…` : document.text),
    canDelete && remove,
  );
  remove.addEventListener("click", () => void deleteDocument(document.id, box));
  return box;
}

export async function deleteDocument(id: string, element: HTMLElement): Promise<boolean> {
  if (!confirm(`Delete document ${id}? Its chunks and vectors are removed; queries stop returning it.`)) return false;
  const error = byId("documents-error");
  error.textContent = "";
  try {
    await ok(api.DELETE("/v1/documents/{id}", { params: { path: { id } } }));
    element.remove();
    // The list and the opened document are two views of it: neither shows it any longer.
    document.querySelector(`#documents-table tr[data-document-id="${CSS.escape(id)}"]`)?.remove();
    const detail = byId("document-detail");
    if (detail.querySelector("article")?.getAttribute("aria-label") === `document ${id}`) detail.replaceChildren();
    announce(`document ${id} deleted`);
    return true;
  } catch (failure) {
    error.textContent = messageOf(failure);
    return false;
  }
}
