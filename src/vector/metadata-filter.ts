/**
 * Vectorize metadata indexes and filters, as documented at
 * https://developers.cloudflare.com/vectorize/reference/metadata-filtering/
 *
 * - Only properties with a metadata index (string | number | boolean) can be filtered on, and only
 *   for vectors written after that index existed (the caller decides which vectors are indexed).
 * - A string index holds the first 64 bytes of the value, cut on a UTF-8 character boundary; a
 *   number index holds a float64; a value of another type than the index's is not indexed.
 * - Filter: a non-empty object, compact JSON < 2048 bytes; keys AND-ed; `a.b` addresses
 *   `{ a: { b } }`; operators $eq $ne $in $nin $lt $lte $gt $gte; a bare value is an implicit $eq;
 *   one lower bound ($gt|$gte) may be combined with one upper bound ($lt|$lte), nothing else.
 *
 * Choices where the docs are silent (documented in docs/vectorize-conformance.md): a property that
 * a vector does not have in the index is "absent"; absent equals `null`, so `$eq: null` matches
 * it, `$ne`/`$nin` (without null) match it, and `$eq`/`$in`/ranges do not.
 */
import { vectorizeError } from "./vectorize-errors";
import { VECTORIZE_LIMITS, type VectorizeMetadataIndexType } from "./vectorize-limits";

/** Properties with a Vectorize metadata index, and their types (as `wrangler vectorize create-metadata-index`). */
export type MetadataIndexes = Readonly<Record<string, VectorizeMetadataIndexType>>;
export type IndexedScalar = string | number | boolean;
/** The indexed values of one vector, keyed by (dotted) property name. */
export type IndexedValues = Readonly<Record<string, IndexedScalar>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function utf8ByteLength(text: string): number {
  return encoder.encode(text).byteLength;
}

/** The longest well-formed UTF-8 prefix of `text` that fits in `maxBytes`. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so a multi-byte character is never split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

function readPath(metadata: unknown, path: string): unknown {
  let node: unknown = metadata;
  for (const segment of path.split(".")) {
    // Own properties only: a path named `constructor` or `toString` must not find Object.prototype's.
    if (node === null || typeof node !== "object" || Array.isArray(node) || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** What the metadata indexes hold for one vector; undefined when nothing is indexed. */
export function extractIndexedValues(metadata: Record<string, unknown> | undefined, indexes: MetadataIndexes): IndexedValues | undefined {
  if (metadata === undefined) return undefined;
  let values: Record<string, IndexedScalar> | undefined;
  for (const [property, type] of Object.entries(indexes)) {
    const value = readPath(metadata, property);
    let indexed: IndexedScalar | undefined;
    if (type === "string" && typeof value === "string") {
      indexed = truncateUtf8(value, VECTORIZE_LIMITS.maxIndexedStringBytes);
    } else if (type === "number" && typeof value === "number" && Number.isFinite(value)) {
      indexed = value;
    } else if (type === "boolean" && typeof value === "boolean") {
      indexed = value;
    }
    if (indexed !== undefined) {
      values ??= {};
      values[property] = indexed;
    }
  }
  return values;
}

/** Rebuilds the nested metadata object that `returnMetadata: "indexed"` returns. */
export function indexedValuesToMetadata(values: IndexedValues): Record<string, VectorizeVectorMetadata> {
  const out: Record<string, unknown> = {};
  for (const [property, value] of Object.entries(values)) {
    const segments = property.split(".");
    let node = out;
    for (const segment of segments.slice(0, -1)) {
      const next = node[segment];
      if (next === null || typeof next !== "object") node[segment] = {};
      node = node[segment] as Record<string, unknown>;
    }
    node[segments[segments.length - 1]!] = value;
  }
  return out as Record<string, VectorizeVectorMetadata>;
}

type FilterScalar = IndexedScalar | null;
type Clause = { property: string; test: (value: IndexedScalar | undefined) => boolean };

/** A validated filter, ready to test one vector's indexed values. */
export interface CompiledFilter {
  readonly properties: readonly string[];
  matches(values: IndexedValues | undefined): boolean;
}

const EQUALITY_OPS = new Set(["$eq", "$ne"]);
const SET_OPS = new Set(["$in", "$nin"]);
const LOWER_OPS = new Set(["$gt", "$gte"]);
const UPPER_OPS = new Set(["$lt", "$lte"]);

function invalid(message: string): Error {
  return vectorizeError("VECTOR_QUERY", `invalid filter: ${message}`);
}

function isScalar(value: unknown): value is FilterScalar {
  return value === null || typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value));
}

/** Indexed strings are 64-byte prefixes, so filter strings are compared on the same prefix. */
function normalise(value: FilterScalar): FilterScalar {
  return typeof value === "string" ? truncateUtf8(value, VECTORIZE_LIMITS.maxIndexedStringBytes) : value;
}

function equals(indexed: IndexedScalar | undefined, wanted: FilterScalar): boolean {
  if (wanted === null) return indexed === undefined;
  return indexed === wanted;
}

/** Code-point order, which is UTF-8 byte order ("strings are ordered lexicographically"). */
function compareStrings(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const l = left.next();
    const r = right.next();
    if (l.done || r.done) return l.done === r.done ? 0 : l.done ? -1 : 1;
    const diff = l.value.codePointAt(0)! - r.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

function compare(indexed: IndexedScalar | undefined, bound: string | number): number | undefined {
  if (typeof bound === "number") return typeof indexed === "number" ? indexed - bound : undefined;
  return typeof indexed === "string" ? compareStrings(indexed, bound) : undefined;
}

function validateKey(key: string): void {
  if (key.length === 0) throw invalid("keys cannot be empty");
  if (key.length > VECTORIZE_LIMITS.maxFilterKeyLength) {
    throw invalid(`key "${key.slice(0, 32)}..." is longer than ${VECTORIZE_LIMITS.maxFilterKeyLength} characters`);
  }
  if (key.startsWith("$")) throw invalid(`key "${key}" cannot start with "$"`);
  if (key.includes('"')) throw invalid(`key "${key}" cannot contain '"'`);
  if (key.split(".").some((segment) => segment.length === 0)) {
    throw invalid(`key "${key}" has an empty nested segment ("." is reserved for nesting)`);
  }
}

function operatorClause(property: string, ops: Record<string, unknown>): Clause {
  const names = Object.keys(ops);
  if (names.length === 0) throw invalid(`operator object for "${property}" is empty`);
  for (const name of names) {
    if (!EQUALITY_OPS.has(name) && !SET_OPS.has(name) && !LOWER_OPS.has(name) && !UPPER_OPS.has(name)) {
      throw invalid(`unsupported operator "${name}" for "${property}"`);
    }
  }
  const lower = names.filter((n) => LOWER_OPS.has(n));
  const upper = names.filter((n) => UPPER_OPS.has(n));
  const isRange = lower.length + upper.length === names.length && lower.length <= 1 && upper.length <= 1;
  if (names.length > 1 && !isRange) {
    throw invalid(`operators ${names.join(", ")} cannot be combined for "${property}"`);
  }

  if (isRange) {
    const bounds = names.map((name) => {
      const bound = ops[name];
      if (typeof bound !== "string" && !(typeof bound === "number" && Number.isFinite(bound))) {
        throw invalid(`${name} for "${property}" needs a string or number`);
      }
      return { name, bound: normalise(bound) as string | number };
    });
    return {
      property,
      test: (value) =>
        bounds.every(({ name, bound }) => {
          const c = compare(value, bound);
          if (c === undefined) return false;
          return name === "$gt" ? c > 0 : name === "$gte" ? c >= 0 : name === "$lt" ? c < 0 : c <= 0;
        }),
    };
  }

  const name = names[0]!;
  const operand = ops[name];
  if (SET_OPS.has(name)) {
    if (!Array.isArray(operand) || !operand.every(isScalar)) {
      throw invalid(`${name} for "${property}" needs an array of string, number, boolean or null`);
    }
    const wanted = operand.map(normalise);
    const isIn = (value: IndexedScalar | undefined) => wanted.some((w) => equals(value, w));
    return { property, test: name === "$in" ? isIn : (value) => !isIn(value) };
  }
  if (!isScalar(operand)) {
    throw invalid(`${name} for "${property}" needs a string, number, boolean or null`);
  }
  const wanted = normalise(operand);
  return {
    property,
    test: name === "$eq" ? (value) => equals(value, wanted) : (value) => !equals(value, wanted),
  };
}

/**
 * Validates a Vectorize filter and compiles it. Throws a `VECTOR_QUERY_ERROR` for a filter that
 * Vectorize documents as invalid. Pure and synchronous (microseconds).
 */
export function compileFilter(filter: unknown): CompiledFilter {
  if (filter === null || typeof filter !== "object" || Array.isArray(filter)) {
    throw invalid("filter must be an object");
  }
  const entries = Object.entries(filter as Record<string, unknown>);
  if (entries.length === 0) throw invalid("filter must be a non-empty object");
  const size = utf8ByteLength(JSON.stringify(filter));
  if (size >= VECTORIZE_LIMITS.maxFilterJsonBytes) {
    throw invalid(
      `filter is too large; its compact JSON must be less than ${VECTORIZE_LIMITS.maxFilterJsonBytes} bytes, got ${size} bytes`,
    );
  }
  const clauses: Clause[] = entries.map(([property, condition]) => {
    validateKey(property);
    if (isScalar(condition)) {
      const wanted = normalise(condition);
      return { property, test: (value) => equals(value, wanted) };
    }
    if (condition !== null && typeof condition === "object" && !Array.isArray(condition)) {
      return operatorClause(property, condition as Record<string, unknown>);
    }
    throw invalid(`value for "${property}" must be a string, number, boolean, null or an operator object`);
  });
  return {
    properties: clauses.map((c) => c.property),
    matches(values) {
      for (const clause of clauses) {
        if (!clause.test(values && Object.hasOwn(values, clause.property) ? values[clause.property] : undefined)) return false;
      }
      return true;
    },
  };
}
