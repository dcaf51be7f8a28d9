import { SignJWT } from "jose";
import { TEST_SECRET } from "./origin.ts";

type TokenOptions = {
  /** The route the token is for (its audience is origin:<path>); /v1/embed by default. */
  path?: string;
  secret?: string;
  issuer?: string;
  audience?: string;
  subject?: string;
  /** Seconds relative to now. */
  issuedAt?: number;
  expiresIn?: number;
  alg?: "HS256" | "HS512";
};

/** Mints a worker token the way the edge worker does; every field can be bent for the security tests. */
export async function signToken(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const iat = now + (options.issuedAt ?? 0);
  return new SignJWT({})
    .setProtectedHeader({ alg: options.alg ?? "HS256" })
    .setIssuer(options.issuer ?? "edge-rag-worker")
    .setAudience(options.audience ?? `origin:${options.path ?? "/v1/embed"}`)
    .setSubject(options.subject ?? "tenant-a")
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.expiresIn ?? 30))
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

export async function authHeaders(path: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signToken({ path })}`, "content-type": "application/json", ...extra };
}
