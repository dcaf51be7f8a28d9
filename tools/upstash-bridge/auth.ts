import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Checks the Upstash credentials of a request: `Authorization: Bearer <token>` only. Upstash also
 * reads a `_token` query parameter; the bridge does not (issue 11), since a token in a URL ends up
 * in logs, histories and Referer headers, and none of the project's clients sends one. Both sides
 * are hashed first so the comparison is constant-time whatever the length of the presented token.
 */
export function createTokenCheck(token: string): (authorization: string | undefined) => boolean {
  if (!token) throw new Error("the Upstash bridge needs a non-empty token (UPSTASH_REDIS_REST_TOKEN)");
  const expected = digest(token);
  return (authorization) => {
    const presented = bearerToken(authorization);
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
