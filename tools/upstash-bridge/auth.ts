import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Checks the Upstash credentials of a request: `Authorization: Bearer <token>` or the
 * `_token` query parameter (both are documented by Upstash). Both sides are hashed first so
 * the comparison is constant-time whatever the length of the presented token.
 */
export function createTokenCheck(token: string): (authorization: string | undefined, queryToken: string | null) => boolean {
  if (!token) throw new Error("the Upstash bridge needs a non-empty token (UPSTASH_REDIS_REST_TOKEN)");
  const expected = digest(token);
  return (authorization, queryToken) => {
    const presented = bearerToken(authorization) ?? queryToken;
    if (!presented) return false;
    return timingSafeEqual(digest(presented), expected);
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function bearerToken(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1]! : null;
}
