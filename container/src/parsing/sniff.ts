import type { ParseFormat } from "../../../src/shared/origin-contract.ts";
import { AppError } from "../errors.ts";

/** The media types each format is sent as. */
const MEDIA_TYPES: Record<string, ParseFormat> = {
  "application/pdf": "pdf",
  "text/html": "html",
  "application/xhtml+xml": "html",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  "text/markdown": "markdown",
  "text/x-markdown": "markdown",
  "text/plain": "text",
};

const EXTENSIONS: Record<string, ParseFormat> = {
  pdf: "pdf",
  html: "html",
  htm: "html",
  xhtml: "html",
  docx: "docx",
  md: "markdown",
  markdown: "markdown",
  txt: "text",
  text: "text",
};

/** Types that say nothing about the bytes: the file name's extension tells then. */
const UNTYPED = new Set(["", "application/octet-stream", "binary/octet-stream"]);

export type Claim = { format: ParseFormat; charset?: string };

/**
 * The format a file claims to be: its Content-Type, or, where that says nothing
 * (application/octet-stream or none), its name's extension; text/plain with a Markdown extension
 * is Markdown (what browsers send for .md files). Anything else is UNSUPPORTED_MEDIA_TYPE (415).
 */
export function claimedFormat(contentType: string | undefined, filename: string | undefined): Claim {
  const [essence = "", ...parameters] = (contentType ?? "").split(";").map((part) => part.trim());
  const mediaType = essence.toLowerCase();
  const charset = parameters.map((parameter) => /^charset\s*=\s*"?([^";]+)"?$/i.exec(parameter)?.[1]).find((value) => value !== undefined);
  const extension = /\.([A-Za-z0-9]+)$/.exec(filename ?? "")?.[1]?.toLowerCase();
  const byName = extension ? EXTENSIONS[extension] : undefined;
  const format = UNTYPED.has(mediaType)
    ? byName
    : mediaType === "text/plain" && byName === "markdown"
      ? "markdown"
      : MEDIA_TYPES[mediaType];
  if (!format) {
    throw new AppError(
      "UNSUPPORTED_MEDIA_TYPE",
      UNTYPED.has(mediaType)
        ? "Name the file's type: a Content-Type of PDF, HTML, DOCX, Markdown or plain text, or a filename with its extension."
        : `Files of type ${mediaType.slice(0, 100)} are not read; send PDF, HTML, DOCX, Markdown or plain text.`,
    );
  }
  return charset ? { format, charset } : { format };
}

/**
 * Refuses bytes that are not the format they claim (FILE_TYPE_MISMATCH, 415), by their magic bytes
 * as file-type reads them: a PDF starts with `%PDF-` (within its first 1024 bytes, where pdf.js
 * looks), a DOCX is a ZIP archive (docx.ts then requires word/document.xml), and a text format is
 * none of the binary types file-type knows (whether it decodes is checked when it is decoded).
 */
export async function checkBytes(format: ParseFormat, bytes: Uint8Array): Promise<void> {
  const { fileTypeFromBuffer } = await import("file-type"); // loaded on the first file (see document-parser.ts)
  const detected = await fileTypeFromBuffer(bytes);
  const is = (mime: string) => detected?.mime === mime;
  const ok =
    format === "pdf"
      ? is("application/pdf") || startsWithin(bytes, PDF_MAGIC, 1024)
      : format === "docx"
        ? is("application/vnd.openxmlformats-officedocument.wordprocessingml.document") || is("application/zip")
        : !detected || detected.mime.startsWith("text/") || detected.mime.endsWith("xml");
  if (ok) return;
  const actually = detected ? `${detected.mime} (.${detected.ext})` : "not a file type that can be recognised";
  const hint =
    detected?.ext === "cfb" && format === "docx"
      ? " An encrypted Word document, or a legacy .doc, is a CFB file: save it as an unprotected .docx."
      : "";
  throw new AppError("FILE_TYPE_MISMATCH", `The file claims to be ${FORMAT_NAMES[format]}, but its bytes are ${actually}.${hint}`);
}

const PDF_MAGIC = new TextEncoder().encode("%PDF-");

function startsWithin(bytes: Uint8Array, magic: Uint8Array, window: number): boolean {
  const last = Math.min(window, bytes.length - magic.length);
  for (let at = 0; at <= last; at++) {
    if (magic.every((byte, i) => bytes[at + i] === byte)) return true;
  }
  return false;
}

const FORMAT_NAMES: Record<ParseFormat, string> = {
  pdf: "a PDF",
  html: "HTML",
  docx: "a Word document (DOCX)",
  markdown: "Markdown",
  text: "plain text",
};
