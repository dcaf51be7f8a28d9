import * as jose from "jose";
import type { Config } from "../config";
import { ApiError, serviceUnavailable, unauthorized } from "../errors";
import { type Principal, parseRoles, TENANT_PATTERN } from "./principal";

/**
 * Bearer JWTs: the service's own HS256 tokens, or RS/ES/EdDSA tokens of the configured identity
 * provider verified against its JWKS. The token's `alg` only selects which of the two verifiers
 * runs; each verifier pins its own algorithms, so neither `alg: none` nor HS256-signed-with-the-
 * IdP's-public-key (algorithm confusion) can pass.
 */

const encoder = new TextEncoder();

export async function mintServiceToken(
  config: Config,
  principal: Principal,
  ttlSeconds: number,
): Promise<{ token: string; expiresIn: number }> {
  const token = await new jose.SignJWT({
    tenant: principal.tenant,
    roles: principal.roles,
    ...(principal.keyId ? { key_id: principal.keyId } : {}),
    ...(principal.tokenVersion !== undefined ? { ver: principal.tokenVersion } : {}),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(principal.sub)
    .setIssuer(config.AUTH_ISSUER)
    .setAudience(config.AUTH_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .setJti(crypto.randomUUID())
    .sign(encoder.encode(config.AUTH_JWT_SECRET));
  return { token, expiresIn: ttlSeconds };
}

// Per isolate and safe to lose: jose caches the keys and refetches on an unknown `kid`.
let jwks: { url: string; keySet: ReturnType<typeof jose.createRemoteJWKSet> } | undefined;

function identityProviderKeys(url: string) {
  if (jwks?.url !== url) {
    jwks = {
      url,
      keySet: jose.createRemoteJWKSet(new URL(url), { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }),
    };
  }
  return jwks.keySet;
}

export async function verifyBearerJwt(config: Config, token: string): Promise<Principal> {
  let header: jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    throw unauthorized("TOKEN_MALFORMED", "the bearer token is not a JWS compact JWT");
  }
  try {
    if (header.alg === "HS256") {
      const { payload } = await jose.jwtVerify(token, encoder.encode(config.AUTH_JWT_SECRET), {
        algorithms: ["HS256"],
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
        clockTolerance: 5,
        requiredClaims: ["sub", "exp", "iat"],
      });
      return toPrincipal(payload, "tenant", "roles", true);
    }
    if (!config.IDP_JWKS_URL) throw unauthorized("TOKEN_ALG_NOT_ALLOWED", "the token's signing algorithm is not accepted");
    const { payload } = await jose.jwtVerify(token, identityProviderKeys(config.IDP_JWKS_URL), {
      algorithms: config.IDP_ALGORITHMS,
      issuer: config.IDP_ISSUER,
      audience: config.IDP_AUDIENCE,
      clockTolerance: config.IDP_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["sub", "exp"],
    });
    return toPrincipal(payload, config.IDP_TENANT_CLAIM, config.IDP_ROLES_CLAIM);
  } catch (error) {
    throw mapJoseError(error);
  }
}

/** `key_id` (the API key a token was exchanged from) is ours: only read from our own tokens. */
function toPrincipal(payload: jose.JWTPayload, tenantClaim: string, rolesClaim: string, ownToken = false): Principal {
  const tenant = payload[tenantClaim];
  if (typeof tenant !== "string" || !TENANT_PATTERN.test(tenant)) {
    throw unauthorized("TOKEN_CLAIM_INVALID", `the token has no valid "${tenantClaim}" claim`);
  }
  const keyId = ownToken && typeof payload.key_id === "string" ? payload.key_id : undefined;
  // Our login tokens are checked against the user's row on use (token version, disabled, roles).
  const tokenVersion = ownToken && payload.sub!.startsWith("user:") ? (typeof payload.ver === "number" ? payload.ver : 0) : undefined;
  // Our tokens can be signed out (POST /v1/auth/logout); an identity provider's end at the provider.
  const session = ownToken && typeof payload.jti === "string" ? { id: payload.jti, expiresAt: payload.exp! } : undefined;
  return {
    sub: payload.sub!,
    tenant,
    roles: parseRoles(payload[rolesClaim]),
    auth: "jwt",
    ...(keyId ? { keyId } : {}),
    ...(tokenVersion !== undefined ? { tokenVersion } : {}),
    ...(session ? { session } : {}),
  };
}

function mapJoseError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  // Only the JWKS fetch throws anything but JOSE errors (network failures).
  if (!(error instanceof jose.errors.JOSEError)) {
    return serviceUnavailable("IDP_UNAVAILABLE", "the identity provider's keys could not be fetched", 5);
  }
  switch (error.code) {
    case "ERR_JWT_EXPIRED":
      return unauthorized("TOKEN_EXPIRED", "the token has expired");
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (error as jose.errors.JWTClaimValidationFailed).claim;
      if (claim === "nbf" || claim === "iat") return unauthorized("TOKEN_NOT_YET_VALID", "the token is not valid yet");
      return unauthorized("TOKEN_CLAIM_INVALID", `the token's "${claim}" claim is not accepted`);
    }
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return unauthorized("TOKEN_ALG_NOT_ALLOWED", "the token's signing algorithm is not accepted");
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return unauthorized("TOKEN_SIGNATURE_INVALID", "the token's signature does not verify");
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return unauthorized("TOKEN_KEY_UNKNOWN", "the token was not signed by a known key");
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
    case "ERR_JOSE_GENERIC": // the JWKS endpoint answered with an error status
      return serviceUnavailable("IDP_UNAVAILABLE", "the identity provider's keys could not be fetched", 5);
    default:
      return unauthorized("TOKEN_MALFORMED", "the bearer token is malformed");
  }
}
