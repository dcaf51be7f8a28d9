/**
 * Offline probe of the keyword side (issue 10's list: a `title` weighed apart with FTS5 column
 * weights, query-side pseudo-relevance feedback (RM3-style), stop-word and stemming choices), run
 * before any of them is built into the worker. It uses the real FTS5 (node:sqlite's SQLite) over
 * the chunks of the eval's own state (the SciFact tenant's TenantData object; `npm run eval -- --tune` leaves both behind), so the
 * text-only variant reproduces the API's BM25 ranking before migration 0008 and the title column
 * at weight 1 reproduces it after. Every variant is scored the way the dense probe scores its
 * own: per document (best chunk), nDCG@10, per-query paired gain over the text-only BM25 and its
 * standard error, each family's setting chosen on the tuning slice only.
 * Each keyword variant is also fused with the dump's chunk vectors (the worker's own fuse(),
 * z-score convex), and the hybrid's margin over its own keyword half is printed beside it: that
 * margin, not the gain over the old BM25, is what the guard and the issue ask for.
 *
 *   npm run eval:keyword -- [--rankings <dump>] [--tenant <sqlite file of the SciFact tenant's object>]
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { MAX_FTS_TERMS, matchAnyOf, searchTerms, toFtsMatchExpression } from "../../src/retrieval/fts-query";
import { fuse, type ScoredRanking } from "../../src/retrieval/fusion";
import { FTS_TOKENIZER } from "../../src/tenant/tenant-schema";
import { ROOT } from "../stack/paths";
import { readRankings, scifact, split } from "./datasets";
import { bestChunkPerDocument, mean, ndcgAt10, pairedGain } from "./metrics";

/** The eval's tenants' objects (Miniflare names a Durable Object class's directory <script>-<class>). */
const OBJECTS_DIR = join(ROOT, ".cache", "scifact-eval", "v3", "do", "edge-rag-TenantData");
const { values: args } = parseArgs({
  options: {
    rankings: { type: "string", default: join(ROOT, ".cache", "eval", "scifact-rankings.json") },
    tenant: { type: "string" },
  },
});

/** The SciFact tenant's object: the largest sqlite file of the eval's TenantData objects (XQuAD's tenants are smaller). */
function evalDatabase(): string {
  if (args.tenant) return args.tenant;
  const files = readdirSync(OBJECTS_DIR)
    .filter((name) => name.endsWith(".sqlite"))
    .map((name) => join(OBJECTS_DIR, name));
  if (files.length === 0) throw new Error(`no tenant object under ${OBJECTS_DIR}: run \`npm run eval -- --tune\` first`);
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}

const sci = scifact();
const dumped = readRankings(args.rankings);
const { tuning, heldOut } = split(sci.judged.filter((id) => dumped.has(id)));
const queryIds = [...tuning, ...heldOut];

// The SciFact tenant's chunks and document titles (its own object: XQuAD's are another tenant's,
// and BM25's statistics are per tenant), copied into memory; the file is only read.
const source = new DatabaseSync(evalDatabase(), { readOnly: true });
const chunks = source
  .prepare(
    `SELECT c.seq AS seq, c.document_id AS document, c.text AS text, coalesce(json_extract(d.metadata, '$.title'), '') AS title
     FROM chunks c JOIN documents d ON d.id = c.document_id`,
  )
  .all() as Array<{ seq: number; document: string; text: string; title: string }>;
source.close();
const documentOfSeq = new Map(chunks.map((chunk) => [chunk.seq, chunk.document]));
const textOfSeq = new Map(chunks.map((chunk) => [chunk.seq, chunk.text]));

const db = new DatabaseSync(":memory:");
const TABLES = {
  textOnly: `text, tokenize = '${FTS_TOKENIZER}'`,
  unstemmed: `text, tokenize = '${FTS_TOKENIZER.replace(/^porter /, "")}'`,
  titled: `text, title, tokenize = '${FTS_TOKENIZER}'`,
} as const;
type Table = keyof typeof TABLES;
for (const [name, columns] of Object.entries(TABLES)) {
  db.exec(`CREATE VIRTUAL TABLE ${name} USING fts5 (${columns})`);
  const insert = db.prepare(
    name === "titled" ? `INSERT INTO ${name} (rowid, text, title) VALUES (?, ?, ?)` : `INSERT INTO ${name} (rowid, text) VALUES (?, ?)`,
  );
  db.exec("BEGIN");
  for (const chunk of chunks) name === "titled" ? insert.run(chunk.seq, chunk.text, chunk.title) : insert.run(chunk.seq, chunk.text);
  db.exec("COMMIT");
}

/**
 * 200 chunks by BM25 (as the eval asks, one result per document), then per document: its best
 * chunk, top 100; `chunks` keeps the chunk ranking (the feedback's first pass).
 */
function keywordRanking(
  table: Table,
  match: string | null,
  titleWeight = 1,
): ScoredRanking & { chunks: { seqs: number[]; scores: number[] } } {
  if (!match) return { ids: [], scores: [], lowest: 0, chunks: { seqs: [], scores: [] } };
  const weights = table === "titled" ? `, 1.0, ${titleWeight}` : "";
  const rows = db
    .prepare(
      `SELECT rowid AS seq, -bm25(${table}${weights}) AS score FROM ${table} WHERE ${table} MATCH ? ORDER BY bm25(${table}${weights}), rowid LIMIT 200`,
    )
    .all(match) as Array<{ seq: number; score: number }>;
  const chunks = { seqs: rows.map((row) => row.seq), scores: rows.map((row) => row.score) };
  return { ...bestChunkPerDocument({ ids: chunks.seqs, scores: chunks.scores }, (seq) => documentOfSeq.get(seq)!, 100), lowest: 0, chunks };
}

/**
 * RM3-style expansion terms: the first pass's top `depth` chunks as feedback, each term weighted
 * by Σ P(term | chunk) · (the chunk's share of the feedback's BM25), the query's own terms and
 * stop-words left out, the best `count` kept.
 */
function feedbackTerms(query: string, firstPass: { seqs: number[]; scores: number[] }, depth: number, count: number): string[] {
  const own = new Set(searchTerms(query));
  const weights = new Map<string, number>();
  const used = firstPass.seqs.slice(0, depth);
  const scores = firstPass.scores;
  const total = scores.slice(0, used.length).reduce((a, b) => a + b, 0) || 1;
  used.forEach((seq, at) => {
    const all = [
      ...textOfSeq
        .get(seq)!
        .normalize("NFKC")
        .toLowerCase()
        .matchAll(/[\p{L}\p{N}]+/gu),
    ].map((m) => m[0]);
    const kept = new Set(searchTerms(all.join(" ")));
    const share = (scores[at] ?? 0) / total;
    for (const term of all) {
      if (!kept.has(term) || own.has(term) || term.length < 3 || /^\d+$/.test(term)) continue;
      weights.set(term, (weights.get(term) ?? 0) + share / all.length);
    }
  });
  return [...weights]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([term]) => term);
}

// Every ranking each query needs, computed once.
const FEEDBACK = { depths: [3, 5, 10], counts: [10, 20] };
const TITLE_WEIGHTS = [0.5, 1, 2, 3];
const rankings = new Map(
  queryIds.map((id) => {
    const query = sci.queries.get(id)!;
    const textOnly = keywordRanking("textOnly", toFtsMatchExpression(query));
    const expansions = new Map<string, ScoredRanking>();
    for (const depth of FEEDBACK.depths) {
      for (const count of FEEDBACK.counts) {
        expansions.set(`${depth}/${count}`, keywordRanking("textOnly", matchAnyOf(feedbackTerms(query, textOnly.chunks, depth, count))));
      }
    }
    const { vector, documentOf } = dumped.get(id)!;
    const dense: ScoredRanking = { ...bestChunkPerDocument(vector, (chunk) => documentOf[chunk]!), lowest: -1 };
    return [
      id,
      {
        textOnly,
        stopWordsKept: keywordRanking("textOnly", matchAnyOf(searchTerms(query, { keepStopWords: true }).slice(0, MAX_FTS_TERMS))),
        unstemmed: keywordRanking("unstemmed", toFtsMatchExpression(query)),
        titled: new Map(TITLE_WEIGHTS.map((weight) => [weight, keywordRanking("titled", toFtsMatchExpression(query), weight)])),
        expansions,
        dense,
      },
    ];
  }),
);
type Rankings = NonNullable<ReturnType<typeof rankings.get>>;

const fusedIds = (lists: ScoredRanking[], weights: number[]) =>
  fuse(lists, { method: "convex", normalization: "z-score", weights }).map((item) => item.id);

interface Variant {
  family: string;
  label: string;
  keyword: (r: Rankings) => ScoredRanking;
}
const variants: Variant[] = [
  {
    family: "text only",
    label: "BM25 over the text (porter, stop-words dropped; deployed before migration 0008)",
    keyword: (r) => r.textOnly,
  },
  { family: "stop-words kept", label: "stop-words kept in the query", keyword: (r) => r.stopWordsKept },
  { family: "no stemming", label: "unicode61 without porter", keyword: (r) => r.unstemmed },
  ...TITLE_WEIGHTS.map((weight) => ({
    family: "title column",
    label: `title column, weight ${weight} (text 1)`,
    keyword: (r: Rankings) => r.titled.get(weight)!,
  })),
];
for (const [key] of rankings.get(queryIds[0]!)!.expansions) {
  const [depth, count] = key.split("/");
  for (const lambda of [0.1, 0.2, 0.3, 0.5]) {
    variants.push({
      family: "RM3-style feedback",
      label: `feedback: ${count} terms from ${depth} chunks, weight ${lambda}`,
      // A fused ranking as the keyword side: the scores are the fusion's, which the hybrid re-normalises.
      keyword: (r) => {
        const fused = fuse([r.textOnly, r.expansions.get(key)!], {
          method: "convex",
          normalization: "z-score",
          weights: [1 - lambda, lambda],
        });
        return { ids: fused.map((item) => item.id), scores: fused.map((item) => item.fused) };
      },
    });
  }
}

const DENSE_WEIGHTS = [0.05, 0.08, 0.12, 0.16, 0.2];
const ndcgs = (ids: string[], rank: (r: Rankings) => readonly string[]) =>
  ids.map((id) => ndcgAt10(rank(rankings.get(id)!), sci.qrels.get(id)!));
const bm25 = { tuning: ndcgs(tuning, (r) => r.textOnly.ids), heldOut: ndcgs(heldOut, (r) => r.textOnly.ids) };

// Agreement with the API's own BM25 (the dump holds only the vector side per document; the eval's
// keyword row is the check): the text-only variant reproduces its nDCG@10 before migration 0008,
// the title column at weight 1 after it.
console.log(`\nkeyword probe: ${chunks.length} chunks of the eval's SciFact tenant, ${queryIds.length} queries; per document, nDCG@10`);
console.log(
  `text-only BM25 here: tuning ${mean(bm25.tuning).toFixed(4)}, held-out ${mean(bm25.heldOut).toFixed(4)} (the baseline of every Δ)`,
);

const fmt = (value: number) => value.toFixed(4);
const signed = (value: number) => `${value >= 0 ? "+" : "−"}${fmt(Math.abs(value))}`;
const gainCell = (values: number[], baseline: number[]) => {
  const gain = pairedGain(values, baseline);
  return `${signed(gain.mean)} ± ${fmt(gain.se)}`;
};
console.log("(Δ: mean per-query gain ± standard error; each family's setting chosen on the tuning slice by Δ − SE)");
console.log(
  "| keyword side | tuning | Δ tuning vs BM25 | held-out | Δ held-out vs BM25 | hybrid held-out (w) | hybrid − its keyword side, held-out |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const family of new Set(variants.map((variant) => variant.family))) {
  const ranked = variants
    .filter((variant) => variant.family === family)
    .map((variant) => {
      const onTuning = ndcgs(tuning, (r) => variant.keyword(r).ids);
      const gain = pairedGain(onTuning, bm25.tuning);
      return { variant, onTuning, bound: gain.mean - gain.se };
    })
    .sort((a, b) => b.bound - a.bound);
  // Every title weight is shown: the choice among them is the one built into keyword search.
  for (const best of family === "title column" ? ranked : ranked.slice(0, 1)) report(best);
}

function report(best: { variant: Variant; onTuning: number[] }) {
  const keyword = best.variant.keyword;
  const onHeldOut = ndcgs(heldOut, (r) => keyword(r).ids);
  // The hybrid's dense weight, chosen on the tuning slice too.
  const hybridAt = (w: number) => (r: Rankings) => fusedIds([r.dense, keyword(r)], [w, 1 - w]);
  const w = DENSE_WEIGHTS.map((weight) => {
    const gain = pairedGain(ndcgs(tuning, hybridAt(weight)), best.onTuning);
    return { weight, bound: gain.mean - gain.se };
  }).sort((a, b) => b.bound - a.bound)[0]!.weight;
  const hybridHeldOut = ndcgs(heldOut, hybridAt(w));
  console.log(
    `| ${best.variant.label} | ${fmt(mean(best.onTuning))} | ${gainCell(best.onTuning, bm25.tuning)} | ${fmt(mean(onHeldOut))} | ` +
      `${gainCell(onHeldOut, bm25.heldOut)} | ${fmt(mean(hybridHeldOut))} (${w}) | ${gainCell(hybridHeldOut, onHeldOut)} |`,
  );
}
