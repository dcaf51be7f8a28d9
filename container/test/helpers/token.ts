import { SignJWT } from "jose";
import { TEST_SECRET } from "./origin.ts";

type TokenOptions = {
  /** The route the token is for (its audience is origin:<path>); /v1/embed by default. */
  path?: string;
  secret?: string;
  issuer?: string;
  audience?: string;
  /** The tenant claim; null leaves it out. */
  tenant?: string | null;
  /** The token id; a fresh one by default, null leaves it out. */
  jti?: string | null;
  /** Seconds relative to now. */
  issuedAt?: number;
  expiresIn?: number;
  alg?: "HS256" | "HS512";
};

/** Mints a worker token the way the edge worker does; every field can be bent for the security tests. */
export async function signToken(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const iat = now + (options.issuedAt ?? 0);
  const tenant = options.tenant === undefined ? "tenant-a" : options.tenant;
  const jti = options.jti === undefined ? crypto.randomUUID() : options.jti;
  const token = new SignJWT(tenant === null ? {} : { tenant })
    .setProtectedHeader({ alg: options.alg ?? "HS256" })
    .setIssuer(options.issuer ?? "edge-rag-worker")
    .setAudience(options.audience ?? `origin:${options.path ?? "/v1/embed"}`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.expiresIn ?? 30));
  if (jti !== null) token.setJti(jti);
  return token.sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

export async function authHeaders(path: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signToken({ path })}`, "content-type": "application/json", ...extra };
}
