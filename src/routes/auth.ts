import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { DUMMY_PASSWORD_HASH, verifyPassword } from "../auth/passwords";
import { parseRoles } from "../auth/principal";
import { mintServiceToken } from "../auth/tokens";
import { unauthorized } from "../errors";
import { authenticate } from "../middleware/authenticate";
import { bucketKey, clientNetwork, decide, rateLimit, refundBucket, setRateLimitHeaders } from "../middleware/rate-limit";
import { authErrors, jsonBody, jsonResponse, security, validationErrors } from "../schemas";

export function createAuthRoutes() {
  const authRoutes = new OpenAPIHono<AppEnv>();

  const TokenSchema = z
    .object({ access_token: z.string(), token_type: z.literal("Bearer"), expires_in: z.number().int() })
    .openapi("AccessToken");

  const LoginSchema = z.strictObject({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) }).openapi("Login");

  const login = createRoute({
    method: "post",
    path: "/v1/auth/login",
    operationId: "login",
    security: [],
    summary: "Exchange a username and password for a short-lived access token",
    request: { body: jsonBody(LoginSchema) },
    responses: {
      200: jsonResponse("An access token", TokenSchema),
      ...validationErrors,
      401: authErrors[401],
      429: authErrors[429],
      503: authErrors[503],
    },
  });

  interface UserRow {
    username: string;
    tenant: string;
    roles: string;
    password_hash: string;
    disabled_at: number | null;
    token_version: number;
  }

  authRoutes.openapi(login, async (c) => {
    const { username, password } = c.req.valid("json");
    // Password guessing is limited per client network (every attempt), per account and network
    // (failures only: a user's successful logins never spend it) and per account from all networks
    // (failures only, RATE_LIMIT_LOGIN_ACCOUNT): a stranger's guesses spend their own network's
    // bucket, not the owner's, and spraying from many networks still meets the account's ceiling.
    // The account's tokens are taken before the password is verified, in the same atomic step as
    // the check, so concurrent guesses cannot all pass a check that none has counted yet; a success
    // gives them back.
    const network = clientNetwork(c);
    const ipDecision = await decide(c, "login-ip", bucketKey(network));
    const account = username.toLowerCase();
    // Both in the login-user bucket: one key part or two, so the keys cannot collide (bucketKey).
    const fromNetwork = bucketKey(account, network);
    const networkDecision = await decide(c, "login-user", fromNetwork);
    const accountDecision = await decide(c, "login-user", bucketKey(account), 1, c.var.config.RATE_LIMIT_LOGIN_ACCOUNT);
    const shown = [networkDecision, accountDecision, ipDecision].find((decision) => decision !== null);
    if (shown) setRateLimitHeaders(c, shown);

    const user = await c.var.services.db
      .prepare("SELECT username, tenant, roles, password_hash, disabled_at, token_version FROM users WHERE username = ?1")
      .bind(username)
      .first<UserRow>();
    // Verify against a dummy hash when the user does not exist, so timing does not reveal it.
    const valid = await verifyPassword(password, user?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!user || !valid || user.disabled_at !== null) {
      throw unauthorized("INVALID_CREDENTIALS", "the username or password is wrong", "invalid_request");
    }
    if (networkDecision) refundBucket(c, "login-user", fromNetwork);
    if (accountDecision) refundBucket(c, "login-user", bucketKey(account), c.var.config.RATE_LIMIT_LOGIN_ACCOUNT);
    const { token, expiresIn } = await mintServiceToken(
      c.var.config,
      {
        sub: `user:${user.username}`,
        tenant: user.tenant,
        roles: parseRoles(JSON.parse(user.roles)),
        auth: "jwt",
        tokenVersion: user.token_version,
      },
      c.var.config.AUTH_TOKEN_TTL_SECONDS,
    );
    return c.json({ access_token: token, token_type: "Bearer" as const, expires_in: expiresIn }, 200);
  });

  const exchange = createRoute({
    method: "post",
    path: "/v1/auth/token",
    operationId: "exchangeApiKeyForToken",
    summary: "Exchange the presented API key for a short-lived access token",
    security,
    middleware: [authenticate({ allow: ["api_key"] }), rateLimit("auth")],
    responses: { 200: jsonResponse("An access token", TokenSchema), ...authErrors },
  });

  authRoutes.openapi(exchange, async (c) => {
    const principal = c.var.principal;
    const record = await c.var.services.apiKeys.find(principal.keyId!);
    // The token never outlives the key it came from.
    const untilKeyExpiry = record?.expires_at ? Math.floor((record.expires_at - Date.now()) / 1000) : Infinity;
    const ttl = Math.max(1, Math.min(c.var.config.AUTH_TOKEN_TTL_SECONDS, untilKeyExpiry));
    const { token, expiresIn } = await mintServiceToken(c.var.config, principal, ttl);
    return c.json({ access_token: token, token_type: "Bearer" as const, expires_in: expiresIn }, 200);
  });

  const logout = createRoute({
    method: "post",
    path: "/v1/auth/logout",
    operationId: "logout",
    summary:
      "Sign out: revoke the presented token (from login or a key exchange) everywhere within API_KEY_CACHE_TTL_SECONDS. An API key is revoked with DELETE /v1/api-keys/{id} instead",
    security: [{ bearer: [] }],
    middleware: [authenticate({ allow: ["jwt"] }), rateLimit("auth")],
    responses: { 204: { description: "Signed out: the token is refused from now on" }, ...authErrors },
  });

  authRoutes.openapi(logout, async (c) => {
    const { sub, session } = c.var.principal;
    if (!session) {
      throw unauthorized(
        "CREDENTIAL_NOT_ACCEPTED",
        "only this service's own tokens can be signed out here; end an identity provider's session at the provider",
        "invalid_request",
      );
    }
    await c.var.services.revokedTokens.revoke(sub, session.id, session.expiresAt);
    return c.body(null, 204);
  });
  return authRoutes;
}
