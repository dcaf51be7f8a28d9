import { MAX_HEADING_CHARS } from "../../../src/shared/origin-contract.ts";
import { AppError } from "../errors.ts";

/**
 * Bytes as text in the declared charset (UTF-8 unless the Content-Type names another), strictly: a
 * byte sequence that is not valid in it, or a NUL (binary data), is FILE_TYPE_MISMATCH, never
 * replacement characters indexed as text. A charset TextDecoder does not know is 415. A BOM is dropped.
 */
export function decodeText(bytes: Uint8Array, charset = "utf-8"): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: true });
  } catch {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", `The charset "${charset.slice(0, 40)}" is not supported.`);
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new AppError("FILE_TYPE_MISMATCH", `The file is not valid ${decoder.encoding} text.`);
  }
  if (text.includes("\0")) throw new AppError("FILE_TYPE_MISMATCH", "The file holds NUL bytes: it is binary, not text.");
  return text;
}

/** Runs of spaces and tabs (not line breaks) as one space, each line trimmed, at most one blank line in a row. */
export function tidyLines(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(/\p{Cc}/gu, (c) => (c === "\n" || c === "\t" ? c : ""))
    .replace(/[ \t\u00a0]+/g, " ")
    .replace(/ ?\n ?/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** A heading as a section path entry: whitespace collapsed, cut to MAX_HEADING_CHARS; "" when blank. */
export function headingText(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_HEADING_CHARS ? `${flat.slice(0, MAX_HEADING_CHARS - 1).replace(/[\uD800-\uDBFF]$/, "")}…` : flat;
}
