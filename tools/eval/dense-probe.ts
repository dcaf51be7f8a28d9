/**
 * Offline probe: can another dense representation make hybrid beat BM25 alone on SciFact's
 * held-out slice? Before anything is built into ingestion (extra vectors per document), this
 * measures candidates over the rankings dump of `npm run eval -- --tune` with the worker's own
 * fuse(), per-query paired gains over BM25 alone, each family's setting chosen on the tuning slice:
 *
 * - title vectors: each document's title embedded as its own vector (SciFact titles are short,
 *   claim-like sentences), alone, mixed into the chunk vectors' ranking (one index, as an extra
 *   vector per document would be stored), or as a third ranking with its own weight;
 * - sentence max-sim (`--sentences`): a document scored by its best sentence's cosine (claims
 *   paraphrase one finding sentence), alone and as a ranking fused with BM25 (≈ 8.6 vectors per
 *   abstract: about 45k sentences to embed, half an hour on a 2-core machine; cached);
 * - dense pseudo-relevance feedback (`--prf`, Rocchio): the query vector moved toward the centroid
 *   of BM25's top documents' vectors (each abstract embedded whole: 5,183 vectors, cached), alone
 *   and fused with BM25, with and without the chunk vectors.
 *
 * Everything is compared per document (each ranking keeps a document's best chunk), so title,
 * sentence and chunk evidence for one document merge as they would if the extra vectors pointed at
 * the document's chunk. The origin (container/, the offline USE-lite embedder) runs alone on a free
 * port; vectors are cached in .cache/eval/dense-probe/ keyed by the texts' hash.
 *
 *   npm run eval:dense -- [--rankings <dump>] [--sentences] [--prf]
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { mintOriginToken } from "../../src/origin/origin-token";
import { type FusionOptions, fuse, type ScoredRanking } from "../../src/retrieval/fusion";
import { freePort } from "../lib/ports";
import { startOrigin } from "../stack/origin";
import { ROOT } from "../stack/paths";
import { type DumpedRankings, readRankings, scifact, split } from "./datasets";
import { bestChunkPerDocument, mean, ndcgAt10, pairedGain } from "./metrics";

const { values: args } = parseArgs({
  options: {
    rankings: { type: "string", default: join(ROOT, ".cache", "eval", "scifact-rankings.json") },
    sentences: { type: "boolean", default: false },
    prf: { type: "boolean", default: false },
  },
});

const DIMENSIONS = 512;
const CACHE = join(ROOT, ".cache", "eval", "dense-probe");

const sci = scifact();
const corpus = gunzipSync(readFileSync(sci.corpus))
  .toString("utf8")
  .split("\n")
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as { _id: string; title: string; text: string });
const dumped = readRankings(args.rankings);
const { tuning, heldOut } = split(sci.judged.filter((id) => dumped.has(id)));

/** Sentence boundaries of an abstract: end punctuation, then space, then what can start a sentence. */
const sentencesOf = (text: string) =>
  text
    .split(/(?<=[.!?])\s+(?=[A-Z([])/)
    .map((sentence) => sentence.trim())
    .filter(Boolean);

interface Embedded {
  /** The document (or query) id of each row. */
  owners: string[];
  /** Row-major, L2-normalised. */
  vectors: Float32Array;
}

let origin: { url: string; secret: string; stop: () => Promise<void> } | undefined;
async function embedAll(owners: string[], texts: string[], kind: "query" | "passage"): Promise<Embedded> {
  const key = createHash("sha256").update(kind).update(JSON.stringify(texts)).digest("hex").slice(0, 16);
  const file = join(CACHE, `${key}.f32`);
  if (existsSync(file)) return { owners, vectors: new Float32Array(readFileSync(file).buffer.slice(0)) };
  if (!origin) {
    const secret = randomBytes(32).toString("hex");
    const started = await startOrigin({ port: await freePort(), jwtSecret: secret, env: { EMBEDDINGS_BACKEND: "use" } });
    origin = { url: started.url, secret, stop: () => started.process.stop() };
  }
  const vectors = new Float32Array(texts.length * DIMENSIONS);
  const batch = 256;
  const started = performance.now();
  for (let from = 0; from < texts.length; from += batch) {
    const response = await fetch(`${origin.url}/v1/embed`, {
      method: "POST",
      headers: { authorization: `Bearer ${await mintOriginToken(origin.secret, "/v1/embed", "eval")}`, "content-type": "application/json" },
      body: JSON.stringify({ inputs: texts.slice(from, from + batch), kind }),
    });
    if (!response.ok) throw new Error(`origin /v1/embed answered ${response.status}: ${await response.text()}`);
    const { vectors: rows } = (await response.json()) as { vectors: number[][] };
    for (const [index, row] of rows.entries()) vectors.set(row, (from + index) * DIMENSIONS);
    if ((from / batch) % 20 === 19)
      console.error(`${kind}: ${from + batch}/${texts.length} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(file, Buffer.from(vectors.buffer));
  return { owners, vectors };
}

/** Per query: the 100 documents whose best row is closest to the query, with that cosine. */
function nearestDocuments(rows: Embedded, queries: Embedded, queryIndex: number): { ids: string[]; scores: number[] } {
  const best = new Map<string, number>();
  const q = queryIndex * DIMENSIONS;
  for (let row = 0; row < rows.owners.length; row++) {
    let dot = 0;
    const r = row * DIMENSIONS;
    for (let d = 0; d < DIMENSIONS; d++) dot += rows.vectors[r + d]! * queries.vectors[q + d]!;
    const owner = rows.owners[row]!;
    if (!(best.get(owner)! >= dot)) best.set(owner, dot);
  }
  const top = [...best].sort((a, b) => b[1] - a[1]).slice(0, 100);
  return { ids: top.map(([id]) => id), scores: top.map(([, score]) => score) };
}

const queryIds = [...tuning, ...heldOut];
// The origin is started on the first cache miss; stopped however the embedding ends.
process.once("SIGINT", () => void origin?.stop().finally(() => process.exit(130)));
let claims: Embedded;
let titles: Embedded;
let sentences: Embedded | undefined;
let documents: Embedded | undefined;
try {
  claims = await embedAll(
    queryIds,
    queryIds.map((id) => sci.queries.get(id)!),
    "query",
  );
  titles = await embedAll(
    corpus.map((doc) => doc._id),
    corpus.map((doc) => doc.title),
    "passage",
  );
  const sentenceRows = args.sentences ? corpus.flatMap((doc) => sentencesOf(doc.text).map((sentence) => [doc._id, sentence] as const)) : [];
  sentences = args.sentences
    ? await embedAll(
        sentenceRows.map(([owner]) => owner),
        sentenceRows.map(([, sentence]) => sentence),
        "passage",
      )
    : undefined;
  documents = args.prf
    ? await embedAll(
        corpus.map((doc) => doc._id),
        // The origin embeds at most 8,192 characters an input; a few abstracts are longer.
        corpus.map((doc) => `${doc.title}\n\n${doc.text}`.slice(0, 8192)),
        "passage",
      )
    : undefined;
} finally {
  await origin?.stop();
}

/** Each query's rankings per document (the dump's chunk rankings keep each document's best chunk). */
const perDocument = (list: DumpedRankings["vector"], documentOf: Record<string, string>, lowest: number): ScoredRanking => ({
  ...bestChunkPerDocument(list, (id) => documentOf[id]!),
  lowest,
});
/** Two rankings as one: the best score per document, best first (how one index holding both kinds of vector answers). */
const mixed = (a: ScoredRanking, b: ScoredRanking): ScoredRanking => {
  const best = new Map<string, number>();
  for (const list of [a, b]) {
    list.ids.forEach((id, at) => {
      best.set(id, Math.max(best.get(id) ?? Number.NEGATIVE_INFINITY, list.scores[at]!));
    });
  }
  const top = [...best].sort((x, y) => y[1] - x[1]).slice(0, 100);
  return { ids: top.map(([id]) => id), scores: top.map(([, score]) => score), lowest: -1 };
};

const PRF_DEPTHS = [1, 2, 3, 5, 10];
const PRF_QUERY_WEIGHTS = [0, 0.25, 0.5, 0.75];
const rowOf = new Map(corpus.map((doc, row) => [doc._id, row]));
/** Cosines of one stored row (of `source`) against every document vector. */
function cosinesToDocuments(source: Float32Array, from: number): Float32Array {
  const docs = documents!.vectors;
  const out = new Float32Array(corpus.length);
  for (let row = 0; row < corpus.length; row++) {
    let dot = 0;
    const r = row * DIMENSIONS;
    for (let d = 0; d < DIMENSIONS; d++) dot += docs[r + d]! * source[from + d]!;
    out[row] = dot;
  }
  return out;
}
/**
 * Dense pseudo-relevance feedback (Rocchio): the query vector moved toward the centroid of BM25's
 * top `depth` documents' vectors, q' = α·q + (1 − α)·ĉ, then every document ranked by its cosine
 * to q'. Keyed `${depth}/${α}`.
 */
function densePrf(keyword: ScoredRanking, queryIndex: number): Map<string, ScoredRanking> {
  const toQuery = cosinesToDocuments(claims.vectors, queryIndex * DIMENSIONS);
  const feedback = keyword.ids.slice(0, Math.max(...PRF_DEPTHS)).map((id) => rowOf.get(id)!);
  const toFeedback = feedback.map((row) => cosinesToDocuments(documents!.vectors, row * DIMENSIONS));
  const out = new Map<string, ScoredRanking>();
  for (const depth of PRF_DEPTHS) {
    const used = toFeedback.slice(0, depth);
    // |Σ d_j|² from the feedback documents' cosines to each other.
    let norm = 0;
    for (const cosines of used) for (const row of feedback.slice(0, depth)) norm += cosines[row]!;
    norm = Math.sqrt(norm);
    for (const alpha of PRF_QUERY_WEIGHTS) {
      const scores = new Float32Array(corpus.length);
      for (let row = 0; row < corpus.length; row++) {
        let centroid = 0;
        for (const cosines of used) centroid += cosines[row]!;
        scores[row] = alpha * toQuery[row]! + ((1 - alpha) * centroid) / norm;
      }
      const top = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]!).slice(0, 100);
      out.set(`${depth}/${alpha}`, { ids: top.map((row) => corpus[row]!._id), scores: top.map((row) => scores[row]!), lowest: -1 });
    }
  }
  return out;
}

const rankings = new Map(
  queryIds.map((queryId, index) => {
    const { vector, keyword, documentOf } = dumped.get(queryId)!;
    const title = nearestDocuments(titles, claims, index);
    const sentence = sentences ? nearestDocuments(sentences, claims, index) : undefined;
    return [
      queryId,
      {
        chunk: perDocument(vector, documentOf, -1),
        keyword: perDocument(keyword, documentOf, 0),
        title: { ...title, lowest: -1 },
        sentence: sentence && { ...sentence, lowest: -1 },
        prf: documents ? densePrf(perDocument(keyword, documentOf, 0), index) : undefined,
      },
    ];
  }),
);
type Rankings = NonNullable<ReturnType<typeof rankings.get>>;

interface Variant {
  family: string;
  label: string;
  rank: (r: Rankings) => readonly string[];
}
const zScore = (weights: number[]): FusionOptions => ({ method: "convex", normalization: "z-score", weights });
const fused = (lists: ScoredRanking[], weights: number[]) => fuse(lists, zScore(weights)).map((item) => item.id);
const variants: Variant[] = [
  { family: "alone", label: "chunk vectors alone", rank: (r) => r.chunk.ids },
  { family: "alone", label: "title vectors alone", rank: (r) => r.title.ids },
];
if (sentences) variants.push({ family: "alone", label: "sentence max-sim alone", rank: (r) => r.sentence!.ids });
const weights = [0.05, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3];
if (documents) {
  for (const depth of PRF_DEPTHS) {
    for (const alpha of PRF_QUERY_WEIGHTS) {
      const key = `${depth}/${alpha}`;
      variants.push({ family: "dense PRF alone", label: `dense PRF alone, k=${depth}, α=${alpha}`, rank: (r) => r.prf!.get(key)!.ids });
      for (const w of [...weights, 0.4, 0.5]) {
        variants.push({
          family: "dense PRF + BM25",
          label: `dense PRF k=${depth}, α=${alpha} + BM25, w=${w}`,
          rank: (r) => fused([r.prf!.get(key)!, r.keyword], [w, 1 - w]),
        });
        for (const wc of [0.05, 0.12]) {
          if (w + wc >= 0.6) continue;
          variants.push({
            family: "chunks + dense PRF + BM25",
            label: `chunks w=${wc} + dense PRF k=${depth}, α=${alpha} w=${w} + BM25`,
            rank: (r) => fused([r.chunk, r.prf!.get(key)!, r.keyword], [wc, w, 1 - w - wc]),
          });
        }
      }
    }
  }
}
for (const w of weights) {
  variants.push({ family: "chunks + BM25", label: `chunks + BM25, w=${w}`, rank: (r) => fused([r.chunk, r.keyword], [w, 1 - w]) });
  variants.push({
    family: "chunks & titles in one index + BM25",
    label: `chunks & titles in one index + BM25, w=${w}`,
    rank: (r) => fused([mixed(r.chunk, r.title), r.keyword], [w, 1 - w]),
  });
  variants.push({ family: "titles + BM25", label: `titles + BM25, w=${w}`, rank: (r) => fused([r.title, r.keyword], [w, 1 - w]) });
  if (sentences) {
    variants.push({
      family: "sentences + BM25",
      label: `sentences + BM25, w=${w}`,
      rank: (r) => fused([r.sentence!, r.keyword], [w, 1 - w]),
    });
  }
  for (const wt of [0.05, 0.1, 0.15]) {
    if (w + wt >= 0.5) continue;
    variants.push({
      family: "chunks + titles + BM25",
      label: `chunks w=${w} + titles w=${wt} + BM25`,
      rank: (r) => fused([r.chunk, r.title, r.keyword], [w, wt, 1 - w - wt]),
    });
    if (sentences) {
      variants.push({
        family: "chunks + sentences + BM25",
        label: `chunks w=${w} + sentences w=${wt} + BM25`,
        rank: (r) => fused([r.chunk, r.sentence!, r.keyword], [w, wt, 1 - w - wt]),
      });
    }
  }
}

const ndcgs = (ids: string[], rank: (r: Rankings) => readonly string[]) =>
  ids.map((id) => ndcgAt10(rank(rankings.get(id)!), sci.qrels.get(id)!));
const bm25 = { tuning: ndcgs(tuning, (r) => r.keyword.ids), heldOut: ndcgs(heldOut, (r) => r.keyword.ids) };
const scored = variants
  .map((variant) => {
    const onTuning = ndcgs(tuning, variant.rank);
    const gain = pairedGain(onTuning, bm25.tuning);
    return { ...variant, ndcg: mean(onTuning), gain, bound: gain.mean - gain.se };
  })
  .sort((a, b) => b.bound - a.bound);

const fmt = (value: number) => value.toFixed(4);
const signed = (value: number) => `${value >= 0 ? "+" : "−"}${fmt(Math.abs(value))}`;
console.log(`\ndense probe over ${dumped.size} queries' dumped rankings (${args.rankings}); per document, nDCG@10`);
console.log(
  "(w: weight of a dense ranking, z-score convex fusion, BM25 takes the rest; Δ: mean gain over BM25 alone ± its standard error;",
);
console.log(" each family's best setting by the tuning slice's Δ − SE; the held-out columns play no part in the choice)");
console.log("| setting | tuning | Δ tuning | held-out | Δ held-out | held-out queries better / worse |");
console.log("| --- | --- | --- | --- | --- | --- |");
console.log(`| BM25 alone | ${fmt(mean(bm25.tuning))} | | ${fmt(mean(bm25.heldOut))} | | |`);
for (const family of new Set(variants.map((variant) => variant.family))) {
  const inFamily = scored.filter((s) => s.family === family);
  const picks = family === "alone" ? inFamily : inFamily.slice(0, family.includes("PRF") ? 3 : 1);
  for (const pick of picks) {
    const onHeldOut = ndcgs(heldOut, pick.rank);
    const gain = pairedGain(onHeldOut, bm25.heldOut);
    // How many queries the setting changes at all: a slice where few change has a noisy mean gain.
    const better = onHeldOut.filter((value, at) => value > bm25.heldOut[at]! + 1e-9).length;
    const worse = onHeldOut.filter((value, at) => value < bm25.heldOut[at]! - 1e-9).length;
    console.log(
      `| ${pick.label} | ${fmt(pick.ndcg)} | ${signed(pick.gain.mean)} ± ${fmt(pick.gain.se)} | ${fmt(mean(onHeldOut))} | ` +
        `${signed(gain.mean)} ± ${fmt(gain.se)} | ${better} / ${worse} |`,
    );
  }
}
console.log(`chosen on the tuning slice: ${scored.find((s) => s.family !== "alone")!.label}`);
