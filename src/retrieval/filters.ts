import { z } from "@hono/zod-openapi";
import { COLLECTION_PATTERN } from "../ingest/document-input";
import type { MetadataIndexes } from "../vector/metadata-filter";

/**
 * Query filters on document metadata, with Vectorize's operators, and their two translations:
 *
 * - SQL in the tenant's object (exact): every clause, always. `collection` and `document_id` are columns of
 *   `chunks`; any other key is read from `documents.metadata` with json_extract, type-checked with
 *   json_type so that `"1"`, `1` and `true` never equal each other. Values travel only as bound
 *   parameters (json paths too), never in the SQL text.
 * - A Vectorize filter (push-down): only the clauses Vectorize can answer without losing a match,
 *   i.e. on properties that have a metadata index of the value's type. The vector search then
 *   returns a superset of the matches, and the object's SQL removes the rest, so no filter is ever dropped.
 *
 * Semantics follow Vectorize: keys are AND-ed; a bare value is `$eq`; `$ne`/`$nin` also match a
 * document that lacks the key; `$eq`/`$in`/ranges do not; ranges compare numbers with numbers and
 * strings with strings (code-point order), and one lower bound may be combined with one upper bound.
 */

export const FILTER_OPERATORS = ["$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];
type Schemas = ReturnType<typeof build>;
export type FilterScalar = z.infer<Schemas["ScalarSchema"]>;
export type FilterCondition = z.infer<Schemas["ConditionSchema"]>;
export type Filters = z.infer<Schemas["FiltersSchema"]>;

export const MAX_FILTER_KEYS = 10;
export const MAX_FILTER_SET_VALUES = 50;
/** As long as a metadata string may be (ingestion: 1024 characters). */
export const MAX_FILTER_STRING_LENGTH = 1024;
/** Collections one query may name; each is one parallel vector query. */
export const MAX_QUERY_COLLECTIONS = 10;

const KEY_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;

/**
 * Keys that are columns of `chunks`, not members of `documents.metadata`. A Map, as any key a
 * client sends is looked up here: on a plain object `toString` would find Object.prototype's.
 */
const COLUMNS = new Map([
  ["collection", "c.collection"],
  ["document_id", "c.document_id"],
]);

/** What the ingestion side indexes by default (the vector metadata always carries both). */
export const DEFAULT_METADATA_INDEXES: MetadataIndexes = { collection: "string", document_id: "string" };

// ── Schema ────────────────────────────────────────────────────────────────────────────────────

/**
 * zod's record leaves a `__proto__` key out of its result without a word (assigning it would
 * replace the object's prototype), so a filter on it would silently not apply: it is refused first.
 */
const refuseProtoKey = (value: unknown, ctx: z.core.$RefinementCtx) => {
  if (typeof value === "object" && value !== null && Object.hasOwn(value, "__proto__"))
    ctx.addIssue({ code: "custom", path: ["__proto__"], message: "`__proto__` is not a filter key", input: value });
  return value;
};

/**
 * The filters' schema, built on its first use (a query's validation, /openapi.json), not at module
 * load: a new isolate's startup builds no schema (query/schemas.ts).
 */
let built: ReturnType<typeof build> | undefined;
export const filtersSchema = () => {
  built ??= build();
  return built.FiltersSchema;
};

function build() {
  const ScalarSchema = z.union([z.string().max(MAX_FILTER_STRING_LENGTH), z.number(), z.boolean()], {
    error: "must be a string, number or boolean",
  });
  const BoundSchema = z.union([z.string().max(MAX_FILTER_STRING_LENGTH), z.number()], {
    error: "a range bound must be a string or number",
  });
  const SetSchema = z.array(ScalarSchema).min(1, "needs at least one value").max(MAX_FILTER_SET_VALUES);

  const OperatorsSchema = z
    .strictObject({
      $eq: ScalarSchema.optional(),
      $ne: ScalarSchema.optional(),
      $in: SetSchema.optional(),
      $nin: SetSchema.optional(),
      $lt: BoundSchema.optional(),
      $lte: BoundSchema.optional(),
      $gt: BoundSchema.optional(),
      $gte: BoundSchema.optional(),
    })
    .openapi({
      description: "Operators on one key: one of $eq $ne $in $nin, or a range (at most one of $gt/$gte with at most one of $lt/$lte)",
    });

  const ConditionSchema = z.union([ScalarSchema, OperatorsSchema], {
    error: "must be a string, number or boolean, or an object of operators ($eq $ne $in $nin $lt $lte $gt $gte)",
  });

  const FiltersSchema = z.preprocess(
    refuseProtoKey,
    z
      .record(z.string().regex(KEY_PATTERN, "filter keys are 1-64 characters: letters, digits, _ and -"), ConditionSchema)
      .superRefine((filters, ctx) => {
        const entries = Object.entries(filters);
        if (entries.length > MAX_FILTER_KEYS) ctx.addIssue({ code: "custom", message: `at most ${MAX_FILTER_KEYS} filter keys` });
        for (const [key, condition] of entries) {
          for (const message of conditionProblems(key, condition)) ctx.addIssue({ code: "custom", path: [key], message });
        }
      })
      .openapi("QueryFilters", {
        description:
          "Filters on document metadata, AND-ed. A bare value means $eq. `collection` names the document's collection " +
          `(\`{"$in": [...]}\` queries up to ${MAX_QUERY_COLLECTIONS} collections in parallel); \`document_id\` the document. ` +
          "Operators: $eq $ne $in $nin $lt $lte $gt $gte; $ne/$nin also match documents without the key; ranges compare " +
          "numbers with numbers and strings with strings.",
        example: { collection: "default", lang: { $in: ["en", "de"] }, year: { $gte: 2015 } },
      }),
  );
  return { ScalarSchema, ConditionSchema, FiltersSchema };
}

function normalise(condition: FilterCondition): Array<[FilterOperator, FilterScalar | FilterScalar[]]> {
  if (typeof condition !== "object") return [["$eq", condition]];
  return Object.entries(condition).filter(([, value]) => value !== undefined) as Array<[FilterOperator, FilterScalar | FilterScalar[]]>;
}

function conditionProblems(key: string, condition: FilterCondition): string[] {
  const ops = normalise(condition);
  const problems: string[] = [];
  if (ops.length === 0) return ["needs an operator"];
  if (ops.length > 1) {
    const lower = ops.filter(([op]) => op === "$gt" || op === "$gte").length;
    const upper = ops.filter(([op]) => op === "$lt" || op === "$lte").length;
    if (lower + upper !== ops.length || lower > 1 || upper > 1) {
      problems.push(
        `operators ${ops.map(([op]) => op).join(", ")} cannot be combined; only a lower bound ($gt/$gte) with an upper bound ($lt/$lte)`,
      );
    }
  }
  if (COLUMNS.has(key)) {
    const values = ops.flatMap(([, value]) => (Array.isArray(value) ? value : [value]));
    if (values.some((value) => typeof value !== "string")) problems.push(`${key} values must be strings`);
    if (key === "collection") {
      const bad = values.find((value) => typeof value === "string" && !COLLECTION_PATTERN.test(value));
      if (bad !== undefined) problems.push(`${JSON.stringify(bad)} is not a collection name (${COLLECTION_PATTERN.source})`);
      const set = ops.find(([op]) => op === "$in");
      if (set && (set[1] as FilterScalar[]).length > MAX_QUERY_COLLECTIONS)
        problems.push(`at most ${MAX_QUERY_COLLECTIONS} collections per query`);
    }
  }
  return problems;
}

// ── Plan ──────────────────────────────────────────────────────────────────────────────────────

interface Clause {
  key: string;
  ops: Array<[FilterOperator, FilterScalar | FilterScalar[]]>;
}

export interface FilterPlan {
  readonly clauses: readonly Clause[];
  /**
   * The collections to query one by one (in parallel) when the filter names them with $eq/$in
   * and `collection` is indexed; null = one vector query over all the tenant's collections.
   */
  readonly collections: readonly string[] | null;
  /** The Vectorize filter of each parallel vector query (undefined = no filter). */
  readonly vectorFilters: ReadonlyArray<VectorizeVectorMetadataFilter | undefined>;
  /** True when Vectorize applies every clause, so its matches need no exact check in SQL. */
  readonly fullyPushedDown: boolean;
}

/** Vectorize rejects a filter whose compact JSON is 2048 bytes or more. */
const VECTORIZE_FILTER_BUDGET = 2047;
/**
 * Vectorize indexes the first 64 bytes of a string. An operand of at most 60 bytes compares the
 * same against a 64-byte prefix as against the whole value (a cut value keeps ≥ 61 bytes), so
 * $ne/$nin/ranges with such operands can be pushed down without losing a match; $eq/$in can
 * always be, since a prefix match is a superset.
 */
const SAFE_PREFIX_BYTES = 60;
const utf8Length = (text: string) => new TextEncoder().encode(text).byteLength;

function pushable(op: FilterOperator, operand: FilterScalar | FilterScalar[], type: "string" | "number" | "boolean"): boolean {
  const values = Array.isArray(operand) ? operand : [operand];
  if (!values.every((value) => typeof value === type)) return false;
  if (type !== "string" || op === "$eq" || op === "$in") return true;
  return values.every((value) => utf8Length(value as string) <= SAFE_PREFIX_BYTES);
}

/** Plans how a validated filter is applied by the vector index (push-down) and by SQL (exact). */
export function planFilters(filters: Filters | undefined, indexes: MetadataIndexes = DEFAULT_METADATA_INDEXES): FilterPlan {
  const clauses: Clause[] = Object.entries(filters ?? {}).map(([key, condition]) => ({ key, ops: normalise(condition) }));
  let fullyPushedDown = true;

  let collections: string[] | null = null;
  const collectionClause = clauses.find((clause) => clause.key === "collection");
  if (collectionClause && indexes.collection === "string" && collectionClause.ops.length === 1) {
    const [op, operand] = collectionClause.ops[0]!;
    if (op === "$eq" || op === "$in") collections = [...new Set((Array.isArray(operand) ? operand : [operand]) as string[])];
  }

  // Reserve room for the `collection` member each fanned-out query adds.
  let budget = VECTORIZE_FILTER_BUDGET - (collections ? 80 : 2);
  const pushed: Record<string, unknown> = {};
  for (const clause of clauses) {
    if (collections && clause === collectionClause) continue;
    const type = Object.hasOwn(indexes, clause.key) ? indexes[clause.key] : undefined;
    const ops = type ? clause.ops.filter(([op, operand]) => pushable(op, operand, type)) : [];
    if (ops.length !== clause.ops.length) fullyPushedDown = false;
    if (ops.length === 0) continue;
    const condition = Object.fromEntries(ops);
    const size = utf8Length(JSON.stringify({ [clause.key]: condition })) - 1;
    if (size > budget) {
      fullyPushedDown = false;
      continue;
    }
    budget -= size;
    pushed[clause.key] = condition;
  }

  const rest = Object.keys(pushed).length > 0 ? (pushed as VectorizeVectorMetadataFilter) : undefined;
  const vectorFilters = collections ? collections.map((collection) => ({ ...rest, collection }) as VectorizeVectorMetadataFilter) : [rest];
  return { clauses, collections, vectorFilters, fullyPushedDown };
}

// ── SQL ───────────────────────────────────────────────────────────────────────────────────────

export type SqlValue = string | number;

/** Numbered bound parameters (`?1`, `?2`…), reused for equal values: D1 allowed 100 per statement, and the names stay short. */
export interface SqlParams {
  add(value: SqlValue): string;
  readonly values: SqlValue[];
}

export function createSqlParams(): SqlParams {
  const values: SqlValue[] = [];
  const index = new Map<string, number>();
  return {
    values,
    add(value) {
      const key = `${typeof value}:${value}`;
      let position = index.get(key);
      if (position === undefined) {
        values.push(value);
        position = values.length;
        index.set(key, position);
      }
      return `?${position}`;
    },
  };
}

const SQL_COMPARATORS: Record<"$lt" | "$lte" | "$gt" | "$gte", string> = { $lt: "<", $lte: "<=", $gt: ">", $gte: ">=" };

/**
 * The WHERE fragment for every clause of the plan, over `chunks c JOIN documents d`; "1" when
 * there is none. Never NULL: a missing key makes a positive test false and a negative one true.
 */
export function filterSql(plan: FilterPlan, params: SqlParams): string {
  if (plan.clauses.length === 0) return "1";
  return plan.clauses.flatMap((clause) => clause.ops.map(([op, operand]) => opSql(clause.key, op, operand, params))).join(" AND ");
}

function opSql(key: string, op: FilterOperator, operand: FilterScalar | FilterScalar[], params: SqlParams): string {
  const column = COLUMNS.get(key);
  if (column) {
    // NOT NULL TEXT columns, and validation made every operand a string.
    switch (op) {
      case "$eq":
        return `${column} = ${params.add(operand as string)}`;
      case "$ne":
        return `${column} <> ${params.add(operand as string)}`;
      case "$in":
        return `${column} IN (SELECT value FROM json_each(${params.add(JSON.stringify(operand))}))`;
      case "$nin":
        return `${column} NOT IN (SELECT value FROM json_each(${params.add(JSON.stringify(operand))}))`;
      default:
        return `${column} ${SQL_COMPARATORS[op]} ${params.add(operand as string)}`;
    }
  }

  const path = params.add(`$."${key}"`); // the key pattern excludes '"', and the path is a parameter anyway
  const type = `json_type(d.metadata, ${path})`;
  const value = `json_extract(d.metadata, ${path})`;
  const typeIs = (scalar: FilterScalar) =>
    typeof scalar === "string"
      ? `${type} = 'text'`
      : typeof scalar === "number"
        ? `${type} IN ('integer', 'real')`
        : `${type} IN ('true', 'false')`;
  const equals = (scalar: FilterScalar) =>
    typeof scalar === "boolean" ? `${type} = '${scalar ? "true" : "false"}'` : `(${typeIs(scalar)} AND ${value} = ${params.add(scalar)})`;
  const memberOf = (set: FilterScalar[]) => {
    const tests: string[] = [];
    const strings = set.filter((s) => typeof s === "string");
    const numbers = set.filter((s) => typeof s === "number");
    if (strings.length) tests.push(`(${typeIs("")} AND ${value} IN (SELECT value FROM json_each(${params.add(JSON.stringify(strings))})))`);
    if (numbers.length) tests.push(`(${typeIs(0)} AND ${value} IN (SELECT value FROM json_each(${params.add(JSON.stringify(numbers))})))`);
    for (const flag of new Set(set.filter((s) => typeof s === "boolean"))) tests.push(equals(flag));
    return tests.join(" OR ");
  };
  // COALESCE: json_type of a missing key is NULL, and NULL must read as "no match", never as unknown.
  const positive = (test: string) => `COALESCE(${test}, 0)`;
  switch (op) {
    case "$eq":
      return positive(equals(operand as FilterScalar));
    case "$ne":
      return `NOT ${positive(equals(operand as FilterScalar))}`;
    case "$in":
      return positive(memberOf(operand as FilterScalar[]));
    case "$nin":
      return `NOT ${positive(memberOf(operand as FilterScalar[]))}`;
    default: {
      const bound = operand as string | number;
      return positive(`${typeIs(bound)} AND ${value} ${SQL_COMPARATORS[op]} ${params.add(bound)}`);
    }
  }
}
