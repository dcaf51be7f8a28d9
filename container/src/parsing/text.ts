import { AppError } from "../errors.ts";
import type { FormatParser } from "./port.ts";
import { decodeText } from "./text-content.ts";

/**
 * Plain text, as /v1/chunk has always taken it: one block, the decoded text as it is (no title, no
 * location). Failures: bytes not valid in the charset → FILE_TYPE_MISMATCH; only blanks → NO_TEXT.
 */
export function createTextParser(): FormatParser {
  return {
    format: "text",
    async parse({ bytes, charset }) {
      const text = decodeText(bytes, charset);
      if (!text.trim()) throw new AppError("NO_TEXT", "The text file is empty or only blanks.");
      return { title: null, blocks: [{ text }] };
    },
  };
}
