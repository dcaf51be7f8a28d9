import { toHex } from "../shared/hex";
import type { Principal, Role } from "./principal";

/**
 * API keys: `erk_<id>_<secret>`. The id is public (it names the key in listings and logs); the
 * secret is 256 random bits, stored only as its SHA-256. A high-entropy secret cannot be guessed,
 * so a fast hash is the right tool here (a slow KDF is for passwords).
 */
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const ID_LENGTH = 16;
const KEY_PATTERN = new RegExp(`^erk_([a-z0-9]{${ID_LENGTH}})_([A-Za-z0-9_-]{43})$`);

export interface GeneratedApiKey {
  id: string;
  /** The full key, shown to its owner once. */
  key: string;
  secretHash: string;
}

export interface ApiKeyRecord {
  id: string;
  tenant: string;
  name: string;
  roles: Role[];
  secret_hash: string;
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return toHex(digest);
}

export async function generateApiKey(): Promise<GeneratedApiKey> {
  // 36 does not divide 256, so reject the biased tail instead of taking a modulo.
  let id = "";
  while (id.length < ID_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(ID_LENGTH * 2))) {
      if (byte < 252 && id.length < ID_LENGTH) id += ID_ALPHABET[byte % 36];
    }
  }
  const secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { id, key: `erk_${id}_${secret}`, secretHash: await sha256Hex(secret) };
}

export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith("erk_");
}

export function parseApiKey(key: string): { id: string; secret: string } | null {
  const match = KEY_PATTERN.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

/** Constant-time comparison of two equal-length hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

export type ApiKeyCheck =
  | { ok: true; principal: Principal; record: ApiKeyRecord }
  | { ok: false; reason: "API_KEY_INVALID" | "API_KEY_EXPIRED" | "API_KEY_REVOKED" };

/** Decides whether a stored key admits a request now. */
export function checkApiKeyRecord(record: ApiKeyRecord | null, now: number): ApiKeyCheck {
  if (!record) return { ok: false, reason: "API_KEY_INVALID" };
  if (record.revoked_at !== null) return { ok: false, reason: "API_KEY_REVOKED" };
  if (record.expires_at !== null && record.expires_at <= now) return { ok: false, reason: "API_KEY_EXPIRED" };
  return {
    ok: true,
    record,
    principal: { sub: `key:${record.id}`, tenant: record.tenant, roles: record.roles, auth: "api_key", keyId: record.id },
  };
}
