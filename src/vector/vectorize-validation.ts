/**
 * Input validation with Vectorize's documented limits and error shapes. Pure, synchronous,
 * throws the same errors the Vectorize binding throws (see vectorize-errors.ts).
 */
import { compileFilter, utf8ByteLength } from "./metadata-filter";
import { type VectorizeOperation, vectorizeError } from "./vectorize-errors";
import { VECTORIZE_ERROR_CODES as CODES, VECTORIZE_LIMITS as LIMITS } from "./vectorize-limits";

/** A vector after validation: float32 values, no empty optional fields. */
export interface ValidVector {
  id: string;
  values: Float32Array;
  namespace?: string;
  metadata?: Record<string, unknown>;
}

export type ReturnMetadataLevel = "none" | "indexed" | "all";

/** Query options after validation and defaulting. */
export interface ValidQueryOptions {
  topK: number;
  namespace?: string;
  returnValues: boolean;
  returnMetadata: ReturnMetadataLevel;
  filter?: VectorizeVectorMetadataFilter;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function validateNamespace(op: VectorizeOperation, namespace: unknown): string | undefined {
  if (namespace === undefined || namespace === null) return undefined;
  if (typeof namespace !== "string" || namespace.length === 0) {
    throw vectorizeError(op, "namespace must be a non-empty string");
  }
  const bytes = utf8ByteLength(namespace);
  if (bytes > LIMITS.maxNamespaceBytes) {
    throw vectorizeError(op, `namespace too long; max is ${LIMITS.maxNamespaceBytes} bytes, got ${bytes} bytes`);
  }
  return namespace;
}

/** Metadata keys "cannot be empty, contain the dot character, contain the double-quote character, or start with $". */
function validateMetadataKeys(op: VectorizeOperation, id: string, value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) validateMetadataKeys(op, id, item);
    return;
  }
  if (!isPlainObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (key.length === 0 || key.includes(".") || key.includes('"') || key.startsWith("$")) {
      throw vectorizeError(
        op,
        `invalid metadata for id="${id}": key ${JSON.stringify(key)} must be non-empty, contain neither "." nor '"', and not start with "$"`,
      );
    }
    validateMetadataKeys(op, id, child);
  }
}

function validateValues(op: VectorizeOperation, id: string, values: unknown, dimensions: number): Float32Array {
  const isTyped = values instanceof Float32Array || values instanceof Float64Array;
  if (!isTyped && !Array.isArray(values)) {
    throw vectorizeError(op, `invalid vector for id="${id}": values must be number[], Float32Array or Float64Array`);
  }
  const list = values as ArrayLike<unknown>;
  if (list.length !== dimensions) {
    throw vectorizeError(
      op,
      `invalid vector for id="${id}", expected ${dimensions} dimensions, and got ${list.length} dimensions`,
      CODES.VECTOR_DIMENSIONS,
    );
  }
  const out = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) {
    const v = list[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw vectorizeError(op, `invalid vector for id="${id}": value at index ${i} is not a finite number`);
    }
    out[i] = v;
  }
  return out;
}

/** Validates an insert/upsert batch: 1..1000 vectors, ids ≤ 64 B, exact dimensions, metadata ≤ 10 KiB. */
export function validateVectors(op: "VECTOR_INSERT" | "VECTOR_UPSERT", vectors: unknown, dimensions: number): ValidVector[] {
  if (!Array.isArray(vectors)) throw vectorizeError(op, "vectors must be an array");
  if (vectors.length === 0) throw vectorizeError(op, "no vectors in payload");
  if (vectors.length > LIMITS.maxBatchSize) {
    throw vectorizeError(op, `too many vectors in payload; max is ${LIMITS.maxBatchSize}, got ${vectors.length}`);
  }
  return vectors.map((vector: unknown): ValidVector => {
    if (!isPlainObject(vector)) throw vectorizeError(op, "each vector must be an object");
    const id = vector.id;
    if (typeof id !== "string" || id.length === 0) throw vectorizeError(op, "vector id must be a non-empty string");
    const idBytes = utf8ByteLength(id);
    if (idBytes > LIMITS.maxIdBytes) {
      throw vectorizeError(op, `id too long; max is ${LIMITS.maxIdBytes} bytes, got ${idBytes} bytes`, CODES.ID_TOO_LONG);
    }
    const values = validateValues(op, id, vector.values, dimensions);
    const namespace = validateNamespace(op, vector.namespace);
    const out: ValidVector = { id, values };
    if (namespace !== undefined) out.namespace = namespace;
    const metadata = vector.metadata;
    if (metadata !== undefined && metadata !== null) {
      if (!isPlainObject(metadata)) throw vectorizeError(op, `invalid metadata for id="${id}": must be an object`);
      validateMetadataKeys(op, id, metadata);
      const bytes = utf8ByteLength(JSON.stringify(metadata));
      if (bytes > LIMITS.maxMetadataBytes) {
        throw vectorizeError(op, `metadata too large for id="${id}"; max is ${LIMITS.maxMetadataBytes} bytes, got ${bytes} bytes`);
      }
      out.metadata = metadata;
    }
    return out;
  });
}

/** Validates an id list for getByIds (≤ 20) or deleteByIds (≤ 100). */
export function validateIds(op: "VECTOR_GET" | "VECTOR_DELETE", ids: unknown): string[] {
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
    throw vectorizeError(op, "ids must be an array of strings");
  }
  const max = op === "VECTOR_GET" ? LIMITS.maxGetByIds : LIMITS.maxDeleteByIds;
  if (ids.length > max) {
    throw vectorizeError(op, `too many ids in payload; max id count is ${max}, got ${ids.length}`, CODES.TOO_MANY_IDS);
  }
  return ids as string[];
}

/** Validates a query vector: `number[] | Float32Array | Float64Array` of exactly `dimensions` finite numbers. */
export function validateQueryVector(vector: unknown, dimensions: number): Float64Array {
  const isTyped = vector instanceof Float32Array || vector instanceof Float64Array;
  if (!isTyped && !Array.isArray(vector)) {
    throw vectorizeError("VECTOR_QUERY", "invalid query vector, expected number[], Float32Array or Float64Array");
  }
  const list = vector as ArrayLike<unknown>;
  if (list.length !== dimensions) {
    throw vectorizeError(
      "VECTOR_QUERY",
      `invalid query vector, expected ${dimensions} dimensions, and got ${list.length} dimensions`,
      CODES.QUERY_DIMENSIONS,
    );
  }
  const out = new Float64Array(dimensions);
  for (let i = 0; i < dimensions; i++) {
    const v = list[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw vectorizeError("VECTOR_QUERY", `invalid query vector: value at index ${i} is not a finite number`);
    }
    out[i] = v;
  }
  return out;
}

/** Validates and defaults query options (topK caps, returnMetadata levels, namespace, filter). */
export function validateQueryOptions(options: VectorizeQueryOptions | undefined): ValidQueryOptions {
  const returnMetadataOption: unknown = options?.returnMetadata;
  let returnMetadata: ReturnMetadataLevel;
  if (returnMetadataOption === undefined || returnMetadataOption === null) {
    returnMetadata = "none";
  } else if (returnMetadataOption === true) {
    // The binding maps true to "all" for backward compatibility.
    returnMetadata = "all";
  } else if (returnMetadataOption === false) {
    // ...but sends false verbatim, which the V2 service rejects (observed in production).
    throw vectorizeError(
      "VECTOR_QUERY",
      "Failed to parse the request body as JSON: returnMetadata: expected value",
      CODES.BAD_REQUEST_BODY,
    );
  } else if (returnMetadataOption === "none" || returnMetadataOption === "indexed" || returnMetadataOption === "all") {
    returnMetadata = returnMetadataOption;
  } else {
    // Thrown by the binding itself, before any request, hence no VECTOR_QUERY_ERROR prefix.
    throw new Error(
      `Invalid returnMetadata option. Expected: true, false, "none", "indexed" or "all"; got: ${String(returnMetadataOption)}`,
    );
  }

  const returnValues = options?.returnValues === true;
  const topK = options?.topK ?? LIMITS.defaultTopK;
  if (!Number.isInteger(topK) || topK < 1) {
    throw vectorizeError("VECTOR_QUERY", `invalid top K, must be a positive integer, got ${String(topK)}`);
  }
  if (topK > LIMITS.maxTopK) {
    throw vectorizeError("VECTOR_QUERY", `max top K is ${LIMITS.maxTopK}, but got ${topK}`);
  }
  if ((returnValues || returnMetadata === "all") && topK > LIMITS.maxTopKWithValuesOrMetadata) {
    throw vectorizeError(
      "VECTOR_QUERY",
      `with returnValues=true or returnMetadata=all, max top K is ${LIMITS.maxTopKWithValuesOrMetadata}, but got ${topK}; ` +
        `for a top K up to ${LIMITS.maxTopK}, retry with returnValues=false and returnMetadata=indexed`,
      CODES.TOP_K,
    );
  }

  const out: ValidQueryOptions = { topK, returnValues, returnMetadata };
  const namespace = validateNamespace("VECTOR_QUERY", options?.namespace);
  if (namespace !== undefined) out.namespace = namespace;
  if (options?.filter !== undefined && options.filter !== null) {
    compileFilter(options.filter);
    out.filter = options.filter;
  }
  return out;
}
