/**
 * Ask, as a conversation: each question goes to POST /v1/chat/completions (the OpenAI-compatible
 * route) with the turns before it, so a follow-up such as "and how long does that take?" is
 * condensed into a standalone question by the server (shown as "Asked as"), which stores nothing:
 * the history lives in this page until "New conversation". The form's collection picks the model
 * (`edge-rag/<collection>`); mode, top_k, filters, cache and explain travel as the route's
 * extensions. Streamed (`chat.completion.chunk` events: the sources first, the answer, the
 * metadata with finish_reason, then [DONE]) or in one JSON answer. Each answer keeps its own
 * sources; citations [n] link to source n of the same answer.
 */

import { locationOf } from "../query/source-location";
import { readSseEvents } from "../sse-events";
import { ApiProblem, api, messageOf, type Schemas } from "./api";
import { busy, byId, h } from "./dom";

type Source = Schemas["QuerySource"];
type ChatRequest = Schemas["ChatCompletionRequest"];
type Extension = Schemas["ChatExtension"];
/** A streamed chunk, as much of it as the console reads. */
interface Chunk {
  choices: Array<{ delta: { content?: string } }>;
  search_results?: Source[];
  edge_rag?: Extension;
  error?: Schemas["OpenAIError"]["error"];
}

/** The turns answered so far, oldest first: what a follow-up sends as its history. */
let history: Array<{ role: "user" | "assistant"; content: string }> = [];
let turnCount = 0;

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
        const turn = startTurn(request.question);
        try {
          const answer = byId<HTMLInputElement>("stream").checked
            ? await askStreaming(request.body, turn)
            : await askOnce(request.body, turn);
          history = [...history, { role: "user", content: request.question }, { role: "assistant", content: answer }];
          byId<HTMLTextAreaElement>("query").value = "";
        } catch (failure) {
          // A turn that failed is not part of the conversation.
          turn.root.remove();
          if (history.length === 0) byId("conversation").hidden = true;
          throw failure;
        }
      },
      messageOf,
    );
  });
  byId("new-conversation").addEventListener("click", () => {
    history = [];
    byId("turns").replaceChildren();
    byId("conversation").hidden = true;
    byId<HTMLTextAreaElement>("query").focus();
  });
  // Enter asks, Shift+Enter is a new line (the usual chat box keys).
  byId<HTMLTextAreaElement>("query").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  // A citation moves focus to its source, so keyboard and screen-reader users land there too.
  byId("turns").addEventListener("click", (event) => {
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

function readRequest(): { question: string; body: ChatRequest } {
  const question = byId<HTMLTextAreaElement>("query").value.trim();
  if (!question) throw new FormError("Type a question first.");
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
  return {
    question,
    body: {
      model: collection ? `edge-rag/${collection}` : "edge-rag",
      messages: [...history, { role: "user", content: question }],
      top_k: topK,
      mode: byId<HTMLSelectElement>("mode").value as ChatRequest["mode"],
      ...(Object.keys(filters).length > 0 ? { filters: filters as ChatRequest["filters"] } : {}),
      explain: byId<HTMLInputElement>("explain").checked,
      cache: byId<HTMLInputElement>("use-cache").checked,
    },
  };
}

/** One question and its answer in the thread: the answer, its metadata and its own sources. */
interface Turn {
  root: HTMLElement;
  id: number;
  answer: HTMLElement;
  meta: HTMLElement;
  sources: HTMLOListElement;
}

function startTurn(question: string): Turn {
  const id = ++turnCount;
  const answer = h("p", { class: "answer", "aria-live": "polite" });
  const meta = h("dl", { class: "meta" });
  const sources = h("ol", { class: "sources" });
  const root = h(
    "li",
    { class: "turn card", id: `turn-${id}` },
    h("p", { class: "question" }, h("span", { class: "badge" }, "Q"), ` ${question}`),
    answer,
    meta,
    h("h4", {}, "Sources"),
    sources,
  );
  byId("turns").append(root);
  byId("conversation").hidden = false;
  return { root, id, answer, meta, sources };
}

/** The OpenAI-shaped error of the chat route, as the console's ApiProblem. */
const chatProblem = (status: number, error: Partial<Schemas["OpenAIError"]["error"]> | undefined) =>
  new ApiProblem(status, { detail: error?.message, code: error?.code, request_id: error?.request_id });

async function askOnce(body: ChatRequest, turn: Turn): Promise<string> {
  const { data, error, response } = await api.POST("/v1/chat/completions", { body: { ...body, stream: false } });
  if (!response.ok || !data) throw chatProblem(response.status, (error as Schemas["OpenAIError"] | undefined)?.error);
  // The operation's 200 also lists text/event-stream (the streamed form), typed as a string.
  if (typeof data === "string") throw new Error("the API streamed an answer that was asked for as JSON");
  const answer = data.choices[0]?.message.content ?? "";
  renderSources(turn, data.search_results);
  renderAnswer(turn, answer, data.search_results.length);
  renderMetadata(turn, data.edge_rag);
  return answer;
}

async function askStreaming(body: ChatRequest, turn: Turn): Promise<string> {
  const { data, error, response } = await api.POST("/v1/chat/completions", {
    body: { ...body, stream: true },
    headers: { accept: "text/event-stream" },
    parseAs: "stream",
  });
  if (!response.ok || !data) throw chatProblem(response.status, (error as Schemas["OpenAIError"] | undefined)?.error);
  turn.answer.setAttribute("aria-busy", "true");
  let text = "";
  let sourceCount = 0;
  try {
    for await (const event of readSseEvents(data)) {
      if (event.data === "[DONE]") break;
      const chunk = JSON.parse(event.data) as Chunk;
      if (chunk.error) throw chatProblem(500, chunk.error);
      if (chunk.search_results) {
        sourceCount = chunk.search_results.length;
        renderSources(turn, chunk.search_results);
      }
      const delta = chunk.choices[0]?.delta.content;
      if (delta) {
        text += delta;
        renderAnswer(turn, text, sourceCount);
      }
      if (chunk.edge_rag) renderMetadata(turn, chunk.edge_rag);
    }
  } finally {
    turn.answer.removeAttribute("aria-busy");
  }
  return text;
}

/** The answer as text, with each [n] (n a source) as a link to that source of the same answer. */
function renderAnswer(turn: Turn, text: string, sourceCount: number): void {
  const parts: Array<Node | string> = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (n < 1 || n > sourceCount) continue;
    parts.push(text.slice(last, match.index));
    parts.push(h("a", { class: "cite", href: `#source-${turn.id}-${n}`, "aria-label": `source ${n}` }, `[${n}]`));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  turn.answer.replaceChildren(...parts);
}

const fmtScore = (score: number | null | undefined) => (score === null || score === undefined ? "—" : score.toFixed(3));
const fmtRank = (rank: number | null) => (rank === null ? "—" : `#${rank}`);

/** A source's heading: its document's title (`metadata.title`) when it has one, else its id. */
const titleOf = (source: Source) =>
  typeof source.metadata.title === "string" && source.metadata.title.trim() ? source.metadata.title : source.document_id;

function renderSources(turn: Turn, sources: Source[]): void {
  const list = turn.sources;
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
        { id: `source-${turn.id}-${index + 1}`, tabindex: "-1" },
        h("p", { class: "source-title" }, h("span", { class: "badge" }, `[${index + 1}]`), ` ${titleOf(source)}`),
        locationOf(source) && h("p", { class: "source-location" }, locationOf(source)),
        facts,
        h("blockquote", {}, source.text),
      );
    }),
  );
  if (sources.length === 0) list.replaceChildren(h("li", {}, "No sources matched."));
}

function renderMetadata(turn: Turn, { rewrite, metadata }: Extension): void {
  const timings = metadata.timings_ms;
  const entries: Array<[string, string]> = [
    // The question the server answered: the follow-up condensed with the conversation's key terms.
    ...(rewrite.method === "none" ? [] : ([["Asked as", `${rewrite.standalone_question} (${rewrite.method})`]] as Array<[string, string]>)),
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
  turn.meta.replaceChildren(
    ...entries.flatMap(([name, value]) => [h("dt", {}, name), h("dd", { "data-field": name.toLowerCase().replaceAll(" ", "-") }, value)]),
  );
}
