/**
 * Cloudflare Vectorize (V2) limits, as the local index enforces them.
 *
 * Sources (read 2026-11):
 * - https://developers.cloudflare.com/vectorize/platform/limits/
 * - https://developers.cloudflare.com/vectorize/reference/metadata-filtering/
 * - https://developers.cloudflare.com/vectorize/reference/client-api/
 * Where the docs and production disagree, the production value is used and marked OBSERVED
 * (see docs/vectorize-conformance.md for the evidence).
 */
export const VECTORIZE_LIMITS = {
  /** "Maximum dimensions per vector: 1536 dimensions, 32 bits precision". */
  maxDimensions: 1536,
  /** "Maximum vector ID length: 64 bytes". */
  maxIdBytes: 64,
  /** "Maximum namespace name length: 64 bytes". */
  maxNamespaceBytes: 64,
  /** "Metadata per vector: 10KiB" (measured here as the UTF-8 bytes of its JSON). */
  maxMetadataBytes: 10 * 1024,
  /** "Maximum upsert batch size (per batch): 1000 (Workers)". Applies to insert too. */
  maxBatchSize: 1000,
  /** "Maximum returned results (topK) without values and metadata: 100". */
  maxTopK: 100,
  /**
   * topK with returnValues=true or returnMetadata="all". The limits page says 20; production
   * answers `VECTOR_QUERY_ERROR (code = 40025): ... max top K is 50` and serves 50. OBSERVED.
   */
  maxTopKWithValuesOrMetadata: 50,
  /** Default topK ("topK (default: 5)"). */
  defaultTopK: 5,
  /** "Maximum metadata indexes per Vectorize index: 10". */
  maxMetadataIndexes: 10,
  /** "Maximum indexed data per metadata index per vector: 64 bytes" (strings, UTF-8 boundary). */
  maxIndexedStringBytes: 64,
  /** Filter: "compact JSON representation must be less than 2048 bytes". */
  maxFilterJsonBytes: 2048,
  /** Filter: keys cannot "be longer than 512 characters". */
  maxFilterKeyLength: 512,
  /** getByIds: `VECTOR_GET_ERROR (code = 40007): too many ids in payload; max id count is 20`. OBSERVED. */
  maxGetByIds: 20,
  /** deleteByIds: `VECTOR_DELETE_ERROR (code = 40007): ... max id count is 100`. OBSERVED. */
  maxDeleteByIds: 100,
} as const;

/** Vectorize error codes whose number is known from production; others are thrown without a code. */
export const VECTORIZE_ERROR_CODES = {
  /** Query vector has the wrong number of dimensions. */
  QUERY_DIMENSIONS: 40006,
  /** Too many ids in a getByIds / deleteByIds payload. */
  TOO_MANY_IDS: 40007,
  /** Vector id longer than 64 bytes. */
  ID_TOO_LONG: 40008,
  /** Inserted/upserted vector has the wrong number of dimensions. */
  VECTOR_DIMENSIONS: 40012,
  /** topK over the cap for the requested payload. */
  TOP_K: 40025,
  /** Request body did not parse (e.g. `returnMetadata: false`, which the binding sends verbatim). */
  BAD_REQUEST_BODY: 40026,
} as const;

export type VectorizeMetadataIndexType = "string" | "number" | "boolean";
