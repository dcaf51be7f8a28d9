import { env } from "cloudflare:test";
import { importJWK, SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { hashPassword } from "../../src/auth/passwords";
import { bindingsWith, call, callWithBindings, createKey, json, uniqueTenant } from "./helpers";
import { IDP_AUDIENCE, IDP_ISSUER } from "./identity-provider";
import { TEST_SECRETS } from "./secrets";

/** Login tokens can be revoked (issue 11): a per-user token version, disabled users and role changes, checked on use. */
describe("login token revocation (security)", () => {
  const bindings = bindingsWith({ API_KEY_CACHE_TTL_SECONDS: "0" });

  async function loginAs(roles: string[]) {
    const tenant = uniqueTenant("revoke");
    const username = `bob-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(username, tenant, JSON.stringify(roles), await hashPassword("pw-for-revocation", 1000), Date.now())
      .run();
    const response = await callWithBindings(bindings, "/v1/auth/login", { body: { username, password: "pw-for-revocation" } });
    expect(response.status).toBe(200);
    const { access_token } = await json(response);
    expect((await callWithBindings(bindings, "/v1/me", { auth: access_token })).status).toBe(200);
    const update = (sql: string, ...params: unknown[]) =>
      env.DB.prepare(sql)
        .bind(...params, username)
        .run();
    return { token: access_token as string, update };
  }

  const expectRevoked = async (token: string) => {
    const response = await callWithBindings(bindings, "/v1/me", { auth: token });
    expect(response.status).toBe(401);
    expect((await json(response)).code).toBe("TOKEN_REVOKED");
  };

  it("security: bumping the user's token version kills every token minted before", async () => {
    const { token, update } = await loginAs(["reader"]);
    await update("UPDATE users SET token_version = token_version + 1 WHERE username = ?1");
    await expectRevoked(token);
  });

  it("security: disabling the user kills their tokens", async () => {
    const { token, update } = await loginAs(["reader"]);
    await update("UPDATE users SET disabled_at = ?1 WHERE username = ?2", Date.now());
    await expectRevoked(token);
  });

  it("security: changing the user's roles kills tokens that carry the old ones", async () => {
    const { token, update } = await loginAs(["admin"]);
    await update("UPDATE users SET roles = ?1 WHERE username = ?2", JSON.stringify(["reader"]));
    await expectRevoked(token);
  });
});

/** Sign-out (issue 25): POST /v1/auth/logout revokes the presented token, and only it. */
describe("sign-out (security)", () => {
  // The cache's default TTL: the isolate that signs a token out refuses it at once, not after it.
  async function createUser() {
    const tenant = uniqueTenant("logout");
    const username = `carol-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(username, tenant, JSON.stringify(["reader"]), await hashPassword("pw-for-logout", 1000), Date.now())
      .run();
    const login = async () => {
      const response = await call("/v1/auth/login", { body: { username, password: "pw-for-logout" } });
      expect(response.status).toBe(200);
      return (await json(response)).access_token as string;
    };
    return { tenant, login };
  }

  const logout = (auth?: string) => call("/v1/auth/logout", { method: "POST", ...(auth ? { auth } : {}) });

  const expectProblem = async (response: Response, status: number, code: string) => {
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect((await json(response)).code).toBe(code);
  };

  it("security: a login token is refused right after logout; the user's other tokens still work", async () => {
    const { login } = await createUser();
    const [token, other] = [await login(), await login()];
    expect((await call("/v1/me", { auth: token })).status).toBe(200);
    expect((await logout(token)).status).toBe(204);
    await expectProblem(await call("/v1/me", { auth: token }), 401, "TOKEN_REVOKED");
    // Signing out twice: the token is no credential any more.
    await expectProblem(await logout(token), 401, "TOKEN_REVOKED");
    expect((await call("/v1/me", { auth: other })).status).toBe(200);
  });

  it("security: a token exchanged from an API key is refused after logout; the key itself keeps working", async () => {
    const { key } = await createKey(uniqueTenant("logout-key"), ["reader"]);
    const exchanged = await call("/v1/auth/token", { method: "POST", auth: key });
    const { access_token } = await json(exchanged);
    expect((await logout(access_token)).status).toBe(204);
    await expectProblem(await call("/v1/me", { auth: access_token }), 401, "TOKEN_REVOKED");
    expect((await call("/v1/me", { auth: key })).status).toBe(200);
  });

  it("error: logout with no, a forged or an expired token is a 401 problem and stores nothing", async () => {
    const before = await revokedRows();
    await expectProblem(await logout(), 401, "CREDENTIALS_MISSING");
    await expectProblem(await logout("not-a-jwt"), 401, "TOKEN_MALFORMED");
    const forged = await new SignJWT({ tenant: "acme", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("user:mallory")
      .setIssuer("edge-rag")
      .setAudience("edge-rag-api")
      .setIssuedAt()
      .setExpirationTime("5m")
      .setJti("forged")
      .sign(new TextEncoder().encode("not-the-secret-not-the-secret-!!"));
    await expectProblem(await logout(forged), 401, "TOKEN_SIGNATURE_INVALID");
    const expired = await new SignJWT({ tenant: "acme", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("key:aaaaaaaaaaaaaaaa")
      .setIssuer("edge-rag")
      .setAudience("edge-rag-api")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .setJti("expired")
      .sign(new TextEncoder().encode(TEST_SECRETS.AUTH_JWT_SECRET));
    await expectProblem(await logout(expired), 401, "TOKEN_EXPIRED");
    expect(await revokedRows()).toBe(before);
  });

  it("security: an API key cannot sign out (keys are revoked with DELETE /v1/api-keys/{id}) and keeps working", async () => {
    const { key } = await createKey(uniqueTenant("logout-apikey"), ["admin"]);
    await expectProblem(await logout(key), 401, "CREDENTIAL_NOT_ACCEPTED");
    expect((await call("/v1/me", { auth: key })).status).toBe(200);
  });

  it("security: an identity provider's token cannot be signed out here: 401, nothing stored", async () => {
    const before = await revokedRows();
    await expectProblem(
      await logout(await idpToken({ tenant: uniqueTenant("logout-idp"), roles: ["reader"] })),
      401,
      "CREDENTIAL_NOT_ACCEPTED",
    );
    expect(await revokedRows()).toBe(before);
  });
});

async function idpToken(claims: Record<string, unknown>) {
  const jwk = inject("idp").privateKeys.RS256;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid })
    .setSubject("user-123")
    .setIssuer(IDP_ISSUER)
    .setAudience(IDP_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .setJti("idp-session")
    .sign(await importJWK(jwk, "RS256"));
}

async function revokedRows(): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM revoked_tokens").first<{ n: number }>())!.n;
}
