/**
 * Documents: upload files through POST /v1/documents/files (PDF, HTML, DOCX, Markdown, text: one
 * document each, the file name as its id, parsed by the server with pages and sections; JSON Lines:
 * one document per line, `{"id","text","metadata"}` or BEIR's `{"_id","title","text"}`, read by
 * the server as the CLI reads them) or a pasted text (POST /v1/documents) into a collection; follow
 * each ingestion job (GET /v1/jobs/{id}) until it ends and show each document's outcome; list the
 * stored documents (GET /v1/documents, a page at a time, by collection and status), open and delete them.
 */

import { fileDocument } from "../ingest/source-files";
import { type Piece, piecesOf, requests } from "../ingest/upload-plan";
import { ApiProblem, api, messageOf, ok, type Schemas } from "./api";
import { announce, busy, byId, formatDate, h } from "./dom";

type Job = Schemas["Job"];
type FilesAccepted = Schemas["FilesAccepted"];

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
  const files = byId<HTMLInputElement>("files");
  const text = byId<HTMLTextAreaElement>("paste-text").value;
  const chosen = [...(files.files ?? [])];
  if (chosen.length === 0 && !text.trim()) throw new Error("Choose files or paste a text to upload.");

  const problems: string[] = [];
  const pieces: Piece[] = [];
  for (const file of chosen) {
    const read = await piecesOf(file);
    if (typeof read === "string") problems.push(`${file.name}: ${read}`);
    else pieces.push(...read);
  }
  let sent = 0;
  for (const request of requests(pieces)) {
    const form = new FormData();
    for (const piece of request) form.append("file", piece.file, piece.file.name);
    if (collection) form.append("collection", collection);
    try {
      // openapi-fetch passes FormData through as is; the browser sets the multipart boundary.
      const body = form as unknown as { file: string[] };
      const accepted: FilesAccepted = await ok(api.POST("/v1/documents/files", { body }));
      sent += accepted.accepted;
      void followJob(accepted.job_id, accepted.accepted + accepted.failed.length);
    } catch (error) {
      problems.push(`${[...new Set(request.map((piece) => piece.file.name))].join(", ")}: ${messageOf(error)}`);
      if (error instanceof ApiProblem && error.status === 401) break;
    }
  }
  if (text.trim()) {
    const id = byId<HTMLInputElement>("paste-id").value.trim();
    // Read as a file of that name would be (an id ending in .md gets its Markdown title), keeping the id as typed.
    const document = id ? { ...fileDocument(id, text), id } : { text };
    const accepted = await ok(api.POST("/v1/documents", { body: { documents: [document], ...(collection ? { collection } : {}) } }));
    sent += accepted.accepted;
    void followJob(accepted.job_id, accepted.accepted);
    byId<HTMLTextAreaElement>("paste-text").value = "";
    byId<HTMLInputElement>("paste-id").value = "";
  }
  files.value = "";
  announce(`${sent} document${sent === 1 ? "" : "s"} accepted`);
  if (problems.length > 0) throw new Error(`Not uploaded: ${problems.join("; ")}`);
}

/** One list item per job, updated until the job is done or failed, then each of its documents' outcome. */
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
      item.append(h("ul", { class: "job-outcomes", "aria-label": `documents of job ${jobId}` }, ...job.outcomes.map(outcomeItem)));
      announce(`job ${job.status}: ${finished} of ${job.documents} documents`);
      await loadDocuments().catch(() => {});
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function outcomeItem(outcome: Job["outcomes"][number]): HTMLLIElement {
  const what =
    outcome.status === "done"
      ? `indexed (${outcome.chunks ?? 0} chunk${outcome.chunks === 1 ? "" : "s"})`
      : outcome.status === "failed"
        ? `failed: ${outcome.error ?? "unknown error"}`
        : outcome.status === "skipped"
          ? "unchanged (skipped)"
          : outcome.status;
  return h("li", { class: `outcome-${outcome.status}` }, h("code", {}, outcome.document_id), ` ${what}`);
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
