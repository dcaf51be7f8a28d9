/** Two lowercase hex digits per byte value, built on first use. */
let digits: string[] | undefined;

/** Bytes as lowercase hex (digests, random ids): a table lookup per byte, on the hot path of every API key check. */
export function toHex(bytes: Uint8Array): string {
  digits ??= Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
  let hex = "";
  for (const byte of bytes) hex += digits[byte];
  return hex;
}

/** `bytes` random bytes as hex: the random part of job, webhook and delivery ids. */
export const randomHex = (bytes: number) => toHex(crypto.getRandomValues(new Uint8Array(bytes)));
