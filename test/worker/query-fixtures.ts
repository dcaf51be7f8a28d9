import { env } from "cloudflare:test";
import { loadConfig } from "../../src/config";
import { documentTitle } from "../../src/ingest/document-input";
import { acceptDocuments } from "../../src/ingest/document-store";
import { localServices } from "../../src/local";
import { tenantObject, tenantSql } from "./helpers";

/**
 * Test corpus and indexing for the query suites.
 *
 * The paragraphs are short factual texts written for these tests (the shared evaluation data may
 * not be copied into the repository). Each question below has its answer in exactly one paragraph.
 *
 * Indexing uses the ingestion side's real indexer (origin chunking and embeddings, vectors in
 * the tenant's namespace, chunks in D1); see indexFixture.
 */

export interface FixtureDocument {
  id: string;
  collection: string;
  text: string;
  metadata: Record<string, string | number | boolean>;
}

export const CORPUS: FixtureDocument[] = [
  {
    id: "bees",
    collection: "science",
    metadata: { lang: "en", year: 1973, topic: "biology", reviewed: true },
    text:
      "Honey bees tell their nestmates where nectar can be found by performing the waggle dance on the vertical combs of the colony. " +
      "The angle of the straight run relative to vertical encodes the direction of the food source relative to the sun, and the " +
      "duration of the run encodes its distance. The Austrian ethologist Karl von Frisch decoded this language over decades of " +
      "experiments, work for which he shared the 1973 Nobel Prize in Physiology or Medicine with Konrad Lorenz and Nikolaas Tinbergen. " +
      "Later studies with robotic bees confirmed that the dance alone is enough to recruit foragers to a location.",
  },
  {
    id: "penicillin",
    collection: "science",
    metadata: { lang: "en", year: 1928, topic: "medicine", reviewed: false },
    text:
      "In September 1928 the Scottish bacteriologist Alexander Fleming returned from holiday to his laboratory at St Mary's Hospital in " +
      "London and noticed that a mould contaminating one of his Staphylococcus culture plates had killed the surrounding bacteria. " +
      "He identified the mould as Penicillium and named the antibacterial substance it released penicillin. Mass production only " +
      "became possible in the 1940s, after Howard Florey and Ernst Chain purified the drug at Oxford.",
  },
  {
    id: "photosynthesis",
    collection: "science",
    metadata: { lang: "en", year: 1779, topic: "biology" },
    text:
      "Photosynthesis converts light energy into chemical energy stored in sugar. In plants it takes place in chloroplasts, where the " +
      "green pigment chlorophyll absorbs mainly red and blue light. Water molecules are split, releasing oxygen as a by-product, and " +
      "carbon dioxide taken in through the stomata is fixed into carbohydrates by the Calvin cycle.",
  },
  {
    id: "panama",
    collection: "geography",
    metadata: { lang: "en", year: 1914, topic: "engineering", reviewed: true },
    text:
      "The Panama Canal opened to shipping on 15 August 1914, linking the Atlantic and Pacific oceans across the Isthmus of Panama. " +
      "Ships are raised by locks about 26 metres to the artificial Gatun Lake, cross the isthmus, and are lowered again on the other " +
      "side. The voyage from New York to San Francisco became roughly 13,000 kilometres shorter than the route around Cape Horn.",
  },
  {
    id: "kilimanjaro",
    collection: "geography",
    metadata: { lang: "en", year: 1889, topic: "mountains", reviewed: false },
    text:
      "Mount Kilimanjaro in northern Tanzania is the highest mountain in Africa, rising to 5,895 metres at Uhuru Peak on the rim of " +
      "the Kibo crater. It is a dormant volcano with three cones, Kibo, Mawenzi and Shira. Hans Meyer and Ludwig Purtscheller were the " +
      "first recorded climbers to reach the summit, in October 1889.",
  },
  {
    id: "london-fire",
    collection: "history",
    metadata: { lang: "en", year: 1666, topic: "cities" },
    text:
      "The Great Fire of London began in the early hours of Sunday 2 September 1666 in Thomas Farriner's bakery on Pudding Lane. " +
      "Driven by a strong east wind, it burned for four days and destroyed more than 13,000 houses, 87 parish churches and the old " +
      "St Paul's Cathedral, which Christopher Wren later rebuilt.",
  },
  {
    id: "rosetta",
    collection: "history",
    metadata: { lang: "en", year: 1799, topic: "archaeology", reviewed: true },
    text:
      "The Rosetta Stone was found in July 1799 by French soldiers near the town of Rashid in the Nile Delta. It carries the same " +
      "decree of 196 BC in three scripts: Egyptian hieroglyphs, Demotic and Ancient Greek. Because the Greek text could be read, " +
      "the stone became the key that let Jean-François Champollion decipher hieroglyphs in 1822.",
  },
  {
    id: "lovelace",
    collection: "history",
    metadata: { lang: "de", year: 1843, topic: "computing", reviewed: true },
    text:
      "In 1843 Ada Lovelace translated an article on Charles Babbage's proposed Analytical Engine and added notes three times as long " +
      "as the original. Note G describes an algorithm for the engine to compute Bernoulli numbers, which is often called the first " +
      "published computer program. She also foresaw that such a machine could manipulate symbols such as musical notes, not only numbers.",
  },
];

/** Questions and a string their answer paragraph contains. */
export const QUESTIONS = {
  bees: { query: "Who decoded the waggle dance language of honey bees?", answer: "von Frisch", document: "bees" },
  penicillin: { query: "Who discovered penicillin in 1928?", answer: "Fleming", document: "penicillin" },
  panama: { query: "When did the Panama Canal open to shipping?", answer: "1914", document: "panama" },
  kilimanjaro: { query: "How high is Mount Kilimanjaro?", answer: "5,895", document: "kilimanjaro" },
  fire: { query: "Where did the Great Fire of London start?", answer: "Pudding Lane", document: "london-fire" },
  rosetta: { query: "Which scripts are written on the Rosetta Stone?", answer: "hieroglyphs", document: "rosetta" },
  lovelace: {
    query: "Who wrote the first published computer program for the Analytical Engine?",
    answer: "Lovelace",
    document: "lovelace",
  },
  // Shares no content word with its paragraph: only dense retrieval can find it.
  semantic: { query: "How do insects show their hive mates the way to flowers?", answer: "waggle dance", document: "bees" },
} as const;

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export interface IndexedFixture {
  /** chunk id → document id, for every chunk of the tenant */
  chunkIds: Map<string, string>;
}

/**
 * Indexes documents for `tenant`. By default through the ingest service's `indexNow` (the
 * real origin chunks and embeds; vectors are upserted and confirmed visible). With
 * `vectors: false` only the tenant's object is written (documents, one chunk per document, FTS
 * via the triggers, the index version): what keyword retrieval needs, and all that can exist without an origin.
 */
export async function indexFixture(
  tenant: string,
  documents: FixtureDocument[] = CORPUS,
  options: { vectors?: boolean } = {},
): Promise<IndexedFixture> {
  const config = loadConfig(env);
  if (options.vectors === false) {
    await writeKeywordOnly(tenant, documents);
  } else {
    const summary = await localServices(env).ingest.indexNow(tenant, documents, { dimensions: config.EMBEDDING_DIMENSIONS });
    const failed = summary.documents.filter((outcome) => outcome.status !== "done");
    if (failed.length > 0) throw new Error(`fixture indexing failed: ${JSON.stringify(failed)}`);
  }
  const rows = await tenantSql<{ id: string; document_id: string }>(tenant, "SELECT id, document_id FROM chunks ORDER BY seq");
  return { chunkIds: new Map(rows.map((row) => [row.id, row.document_id])) };
}

/** Documents stored and committed with one chunk each through the tenant's object, without an origin or vectors: one commit, one index version. */
async function writeKeywordOnly(tenant: string, documents: FixtureDocument[]): Promise<void> {
  const store = tenantObject(tenant);
  const quota = { maxDocuments: 1e9, maxBytes: 1e12, maxChunks: 1e9 };
  const targets: Array<{ documentId: string; contentHash: string }> = [];
  for (const [collection, group] of Map.groupBy(documents, (document) => document.collection)) {
    const accepted = await acceptDocuments(
      group.map(({ id, text, metadata }) => ({ id, text, metadata })),
      collection,
    );
    const result = await store.accept({ documents: accepted, quota, now: Date.now() });
    if (!result.ok) throw new Error(`fixture refused: ${result.detail}`);
    targets.push(...accepted.map((document) => ({ documentId: document.id, contentHash: document.hash })));
  }
  const { work } = await store.loadWork(targets);
  const ready = await Promise.all(
    work.map(async (document) => ({
      id: document.id,
      contentHash: document.content_hash,
      revision: document.revision,
      collection: document.collection,
      title: documentTitle(JSON.parse(document.metadata)),
      chunks: [
        {
          id: `c_${await sha1Hex(`${tenant}\u0000${document.id}\u00000`)}`,
          index: 0,
          text: document.text,
          start: 0,
          end: document.text.length,
        },
      ],
    })),
  );
  const committed = await store.commit({ ready, failed: [], skipped: [], model: null, maxChunks: quota.maxChunks, now: Date.now() });
  if (!committed.ok) throw new Error("fixture commit refused");
}

/** The events of a whole SSE response, parsed independently of the worker's own code. */
export async function readEvents(response: Response): Promise<Array<{ event: string; data: string }>> {
  const text = await response.text();
  return text
    .split(/\n\n/)
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((line) => line.startsWith("event: "))?.slice(7) ?? "message";
      const data = lines
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      return { event, data };
    });
}
