/**
 * Ask: POST /v1/query with the form's mode, top_k, filters, cache and explain options. Streamed
 * (SSE: `sources` first, then `token` deltas, then `done` with the metadata, or `error`) or in
 * one JSON answer. Citations [n] in the answer link to source n below it.
 */

import { readSseEvents } from "../sse-events";
import { ApiProblem, api, messageOf, ok, type Problem, type Schemas } from "./api";
import { busy, byId, h } from "./dom";

type Source = Schemas["QuerySource"];
type Metadata = Schemas["QueryMetadata"];
type QueryRequest = Schemas["QueryRequest"];

const answerEl = () => byId("answer");

export function setupAsk(): void {
  const form = byId<HTMLFormElement>("ask-form");
  const error = byId("ask-error");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(
      form,
      error,
      async () => {
        const request = readRequest();
        if (byId<HTMLInputElement>("stream").checked) await askStreaming(request);
        else await askOnce(request);
      },
      messageOf,
    );
  });
  // Enter asks, Shift+Enter is a new line (the usual chat box keys).
  byId<HTMLTextAreaElement>("query").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  // A citation moves focus to its source, so keyboard and screen-reader users land there too.
  answerEl().addEventListener("click", (event) => {
    const link = (event.target as Element).closest<HTMLAnchorElement>("a.cite");
    if (!link) return;
    event.preventDefault();
    const target = document.getElementById(link.hash.slice(1));
    if (!target) return;
    for (const marked of document.querySelectorAll(".sources li.cited")) marked.classList.remove("cited");
    target.classList.add("cited");
    target.scrollIntoView({ behavior: "smooth", block: "center" });
    target.focus({ preventScroll: true });
  });
}

class FormError extends Error {}

function readRequest(): QueryRequest {
  const query = byId<HTMLTextAreaElement>("query").value.trim();
  if (!query) throw new FormError("Type a question first.");
  const topK = Number(byId<HTMLInputElement>("top-k").value || 5);
  if (!Number.isInteger(topK) || topK < 1 || topK > 50) throw new FormError("Sources (top_k) must be a whole number from 1 to 50.");
  let filters: Record<string, unknown> = {};
  const raw = byId<HTMLTextAreaElement>("filters").value.trim();
  if (raw) {
    try {
      filters = JSON.parse(raw);
    } catch {
      throw new FormError('More filters must be a JSON object, e.g. {"lang": "en"}.');
    }
    if (typeof filters !== "object" || filters === null || Array.isArray(filters))
      throw new FormError("More filters must be a JSON object.");
  }
  const collection = byId<HTMLInputElement>("ask-collection").value.trim();
  if (collection) filters = { ...filters, collection };
  return {
    query,
    top_k: topK,
    mode: byId<HTMLSelectElement>("mode").value as QueryRequest["mode"],
    ...(Object.keys(filters).length > 0 ? { filters: filters as QueryRequest["filters"] } : {}),
    explain: byId<HTMLInputElement>("explain").checked,
    cache: byId<HTMLInputElement>("use-cache").checked,
  };
}

function startResult(): void {
  byId("result").hidden = false;
  answerEl().replaceChildren();
  byId("answer-meta").replaceChildren();
  byId("sources").replaceChildren();
}

async function askOnce(request: QueryRequest): Promise<void> {
  startResult();
  const response = await ok(api.POST("/v1/query", { body: { ...request, stream: false } }));
  // The operation's 200 also lists text/event-stream (the streamed form), typed as a string.
  if (typeof response === "string") throw new Error("the API streamed an answer that was asked for as JSON");
  renderSources(response.sources);
  renderAnswer(response.answer, response.sources.length);
  renderMetadata(response.metadata);
}

async function askStreaming(request: QueryRequest): Promise<void> {
  startResult();
  const { data, error, response } = await api.POST("/v1/query", {
    body: { ...request, stream: true },
    headers: { accept: "text/event-stream" },
    parseAs: "stream",
  });
  if (!response.ok || !data) throw new ApiProblem(response.status, (error ?? {}) as Partial<Problem>);
  const answer = answerEl();
  answer.setAttribute("aria-busy", "true");
  let text = "";
  let sourceCount = 0;
  try {
    for await (const event of readSseEvents(data)) {
      if (event.event === "sources") {
        const sources = JSON.parse(event.data) as Source[];
        sourceCount = sources.length;
        renderSources(sources);
      } else if (event.event === "token") {
        text += (JSON.parse(event.data) as { text: string }).text;
        renderAnswer(text, sourceCount);
      } else if (event.event === "done") {
        renderMetadata(JSON.parse(event.data) as Metadata);
      } else if (event.event === "error") {
        const problem = JSON.parse(event.data) as Problem;
        throw new ApiProblem(problem.status, problem);
      }
    }
  } finally {
    answer.removeAttribute("aria-busy");
  }
}

/** The answer as text, with each [n] (n a source) as a link to that source. */
function renderAnswer(text: string, sourceCount: number): void {
  const parts: Array<Node | string> = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (n < 1 || n > sourceCount) continue;
    parts.push(text.slice(last, match.index));
    parts.push(h("a", { class: "cite", href: `#source-${n}`, "aria-label": `source ${n}` }, `[${n}]`));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  answerEl().replaceChildren(...parts);
}

const fmtScore = (score: number | null | undefined) => (score === null || score === undefined ? "—" : score.toFixed(3));
const fmtRank = (rank: number | null) => (rank === null ? "—" : `#${rank}`);

/** A source's heading: its document's title (`metadata.title`) when it has one, else its id. */
const titleOf = (source: Source) =>
  typeof source.metadata.title === "string" && source.metadata.title.trim() ? source.metadata.title : source.document_id;

function renderSources(sources: Source[]): void {
  const list = byId("sources");
  list.replaceChildren(
    ...sources.map((source, index) => {
      const collection = typeof source.metadata.collection === "string" ? source.metadata.collection : "—";
      const facts = h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Document"),
        h("dd", {}, source.document_id),
        h("dt", {}, "Collection"),
        h("dd", {}, collection),
        h("dt", {}, "Score"),
        h("dd", {}, fmtScore(source.score)),
        ...(source.ranks
          ? [
              h("dt", {}, "Ranks"),
              h(
                "dd",
                {},
                `vector ${fmtRank(source.ranks.vector)} · keyword ${fmtRank(source.ranks.keyword)} · rerank ${fmtRank(source.ranks.rerank)}`,
              ),
            ]
          : []),
      );
      return h(
        "li",
        { id: `source-${index + 1}`, tabindex: "-1" },
        h("p", { class: "source-title" }, h("span", { class: "badge" }, `[${index + 1}]`), ` ${titleOf(source)}`),
        facts,
        h("blockquote", {}, source.text),
      );
    }),
  );
  if (sources.length === 0) list.replaceChildren(h("li", {}, "No sources matched."));
}

function renderMetadata(metadata: Metadata): void {
  const timings = metadata.timings_ms;
  const entries: Array<[string, string]> = [
    ["Cache", `${metadata.cache}${metadata.cache_tier ? ` (${metadata.cache_tier})` : ""}`],
    ["Degraded", metadata.degraded ? metadata.degraded_reasons.join(", ") || "yes" : "no"],
    [
      "Timings",
      `embed ${timings.embed.toFixed(1)} ms · retrieve ${timings.retrieve.toFixed(1)} ms · generate ${timings.generate.toFixed(1)} ms`,
    ],
    ["Total", `${metadata.query_time_ms.toFixed(1)} ms`],
    ["Index version", String(metadata.index_version)],
    ["Request", metadata.request_id],
  ];
  byId("answer-meta").replaceChildren(
    ...entries.flatMap(([name, value]) => [h("dt", {}, name), h("dd", { "data-field": name.toLowerCase() }, value)]),
  );
}
