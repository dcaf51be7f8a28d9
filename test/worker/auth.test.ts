import { env } from "cloudflare:test";
import { importJWK, type JWK, SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { hashPassword } from "../../src/auth/passwords";
import { call, callWithEnv, createKey, json, uniqueTenant } from "./helpers";
import { IDP_AUDIENCE, IDP_ISSUER } from "./identity-provider";
import { TEST_SECRETS } from "./secrets";

const encoder = new TextEncoder();
const idp = inject("idp");

/** Signs a token as the identity provider would (or as an attacker would, with other keys). */
async function idpToken(
  alg: "RS256" | "ES256" | "EdDSA",
  claims: Record<string, unknown> = {},
  options: { key?: JWK; issuer?: string; audience?: string; expires?: string | number; notBefore?: string | number } = {},
) {
  const jwk = options.key ?? idp.privateKeys[alg];
  const jwt = new SignJWT({ tenant: "acme", roles: ["reader"], ...claims })
    .setProtectedHeader({ alg, kid: jwk.kid })
    .setSubject("user-123")
    .setIssuer(options.issuer ?? IDP_ISSUER)
    .setAudience(options.audience ?? IDP_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expires ?? "5m");
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  return jwt.sign(await importJWK(jwk, alg));
}

async function serviceToken(
  claims: Record<string, unknown>,
  options: { secret?: string; issuer?: string; audience?: string; expires?: string | number } = {},
) {
  return (
    new SignJWT({ tenant: "acme", roles: ["reader"], ...claims })
      .setProtectedHeader({ alg: "HS256" })
      // Not `user:`: login tokens are checked against a users row (revocation), these stand alone.
      .setSubject("test:someone")
      .setIssuer(options.issuer ?? "edge-rag")
      .setAudience(options.audience ?? "edge-rag-api")
      .setIssuedAt()
      .setExpirationTime(options.expires ?? "5m")
      .sign(encoder.encode(options.secret ?? TEST_SECRETS.AUTH_JWT_SECRET))
  );
}

const b64url = (value: unknown) => btoa(JSON.stringify(value)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");

async function expectUnauthorized(response: Response, code: string) {
  expect(response.status).toBe(401);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="edge-rag"/);
  const problem = await json(response);
  expect(problem).toMatchObject({ status: 401, code });
  expect(problem.request_id).toBe(response.headers.get("x-request-id"));
}

describe("API keys (happy)", () => {
  it("authenticates a key sent as a bearer token or in X-API-Key", async () => {
    const tenant = uniqueTenant();
    const { key, id } = await createKey(tenant, ["reader"]);
    for (const headers of [{ authorization: `Bearer ${key}` }, { "x-api-key": key }] as Array<Record<string, string>>) {
      const response = await call("/v1/me", { headers });
      expect(response.status).toBe(200);
      expect(await json(response)).toEqual({ sub: `key:${id}`, tenant, roles: ["reader"], auth: "api_key" });
    }
  });

  it("lets an admin create, list and revoke keys, showing the secret only once", async () => {
    const tenant = uniqueTenant();
    const admin = await createKey(tenant, ["admin"]);
    const created = await call("/v1/api-keys", { auth: admin.key, body: { name: "ci", roles: ["writer", "reader"], expires_in: 3600 } });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const body = await json(created);
    expect(body.key).toMatch(/^erk_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(body.roles.sort()).toEqual(["reader", "writer"]);
    expect(Date.parse(body.expires_at)).toBeGreaterThan(Date.now() + 3500_000);

    const me = await json(await call("/v1/me", { auth: body.key }));
    expect(me.tenant).toBe(tenant);

    const listed = await json(await call("/v1/api-keys", { auth: admin.key }));
    const text = JSON.stringify(listed);
    expect(listed.keys.map((k: { id: string }) => k.id)).toContain(body.id);
    // The secret is everything after the second underscore (it may hold underscores itself).
    expect(text).not.toContain(body.key.split("_").slice(2).join("_"));
    expect(text).not.toContain("secret");
    expect(listed.keys.find((k: { id: string }) => k.id === body.id).last_used_at).not.toBeNull();

    const revoked = await call(`/v1/api-keys/${body.id}`, { method: "DELETE", auth: admin.key });
    expect(revoked.status).toBe(204);
    await expectUnauthorized(await call("/v1/me", { auth: body.key }), "API_KEY_REVOKED");
  });
});

describe("API keys (security)", () => {
  it("keys list shows each key's creator and whether that creator can still act: keys outlive a disabled creator", async () => {
    const tenant = uniqueTenant("creator");
    const username = `dora-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(username, tenant, JSON.stringify(["admin"]), await hashPassword("pw-for-creator", 1000), Date.now())
      .run();
    const { access_token } = await json(await call("/v1/auth/login", { body: { username, password: "pw-for-creator" } }));
    const admin = await createKey(tenant, ["admin"]);
    const byUser = await json(await call("/v1/api-keys", { auth: access_token, body: { name: "by-user", roles: ["reader"] } }));
    const byKey = await json(await call("/v1/api-keys", { auth: admin.key, body: { name: "by-key", roles: ["reader"] } }));
    const creators = async () => {
      const { keys } = await json(await call("/v1/api-keys", { auth: admin.key }));
      return Object.fromEntries(
        keys.map((k: { id: string; created_by: string | null; creator_disabled: boolean | null }) => [
          k.id,
          [k.created_by, k.creator_disabled],
        ]),
      );
    };
    expect(await creators()).toMatchObject({
      [byUser.id]: [`user:${username}`, false],
      [byKey.id]: [`key:${admin.id}`, false],
      [admin.id]: ["test", null],
    });
    // The creator is disabled: the key still works (it is the tenant's), and the list says so.
    await env.DB.prepare("UPDATE users SET disabled_at = ?1 WHERE username = ?2").bind(Date.now(), username).run();
    expect((await call("/v1/me", { auth: byUser.key })).status).toBe(200);
    expect((await creators())[byUser.id]).toEqual([`user:${username}`, true]);
  });

  it("answers 401 with WWW-Authenticate when no credential is sent", async () => {
    await expectUnauthorized(await call("/v1/me"), "CREDENTIALS_MISSING");
  });

  it("rejects malformed, unknown and wrong-secret keys alike", async () => {
    const { key } = await createKey(uniqueTenant(), ["reader"]);
    const wrongSecret = `${key.slice(0, -4)}AAAA`;
    const unknownId = `erk_${"z".repeat(16)}_${key.split("_").slice(2).join("_")}`;
    for (const credential of ["erk_nope", wrongSecret, unknownId]) {
      await expectUnauthorized(await call("/v1/me", { headers: { "x-api-key": credential } }), "API_KEY_INVALID");
    }
    await expectUnauthorized(await call("/v1/me", { headers: { authorization: "Basic abc" } }), "CREDENTIALS_MALFORMED");
  });

  it("rejects an expired key", async () => {
    const { key } = await createKey(uniqueTenant(), ["reader"], { expiresAt: Date.now() - 1000 });
    await expectUnauthorized(await call("/v1/me", { auth: key }), "API_KEY_EXPIRED");
  });

  it("refuses two credentials at once", async () => {
    const { key } = await createKey(uniqueTenant(), ["reader"]);
    const response = await call("/v1/me", { auth: key, headers: { "x-api-key": key } });
    expect(response.status).toBe(400);
    expect((await json(response)).code).toBe("AMBIGUOUS_CREDENTIALS");
  });

  it("keeps key management to admins of the same tenant", async () => {
    const tenantA = uniqueTenant("a");
    const adminA = await createKey(tenantA, ["admin"]);
    const writerA = await createKey(tenantA, ["writer"]);
    const adminB = await createKey(uniqueTenant("b"), ["admin"]);

    const forbidden = await call("/v1/api-keys", { auth: writerA.key });
    expect(forbidden.status).toBe(403);
    expect((await json(forbidden)).code).toBe("FORBIDDEN");

    // B can neither see nor revoke A's keys; A's key keeps working.
    const listedByB = await json(await call("/v1/api-keys", { auth: adminB.key }));
    expect(listedByB.keys.map((k: { id: string }) => k.id)).not.toContain(writerA.id);
    const revokeByB = await call(`/v1/api-keys/${writerA.id}`, { method: "DELETE", auth: adminB.key });
    expect(revokeByB.status).toBe(404);
    expect((await call("/v1/me", { auth: writerA.key })).status).toBe(200);
    expect((await call(`/v1/api-keys/${writerA.id}`, { method: "DELETE", auth: adminA.key })).status).toBe(204);
  });
});

describe("API keys (error)", () => {
  it("rejects unknown fields, bad roles and bad lifetimes with one problem listing each", async () => {
    const { key } = await createKey(uniqueTenant(), ["admin"]);
    for (const body of [
      { name: "x", roles: ["reader"], typo: true },
      { name: "x", roles: ["root"] },
      { name: "", roles: ["reader"] },
      { name: "x", roles: [] },
      { name: "x", roles: ["reader"], expires_in: 5 },
    ]) {
      const response = await call("/v1/api-keys", { auth: key, body });
      expect(response.status).toBe(400);
      const problem = await json(response);
      expect(problem.code).toBe("VALIDATION_FAILED");
      expect(problem.errors.length).toBeGreaterThan(0);
    }
    const badId = await call("/v1/api-keys/NOT-AN-ID", { method: "DELETE", auth: key });
    expect(badId.status).toBe(400);
  });

  it("answers 415 for a body that is not JSON and 400 for malformed JSON", async () => {
    const { key } = await createKey(uniqueTenant(), ["admin"]);
    const text = await call("/v1/api-keys", { auth: key, body: "name=x", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    expect((await json(text)).code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const malformed = await call("/v1/api-keys", { auth: key, body: "{not json" });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("service tokens (happy)", () => {
  it("exchanges an API key for a short-lived JWT that carries the key's tenant and roles", async () => {
    const tenant = uniqueTenant();
    const { key, id } = await createKey(tenant, ["writer"]);
    const response = await call("/v1/auth/token", { method: "POST", auth: key });
    expect(response.status).toBe(200);
    const token = await json(response);
    expect(token).toMatchObject({ token_type: "Bearer", expires_in: 900 });
    const me = await json(await call("/v1/me", { auth: token.access_token }));
    expect(me).toEqual({ sub: `key:${id}`, tenant, roles: ["writer"], auth: "jwt" });
  });

  it("logs a user in with a password and issues a token", async () => {
    const tenant = uniqueTenant();
    const username = `alice-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(username, tenant, JSON.stringify(["reader"]), await hashPassword("correct horse battery"), Date.now())
      .run();
    const ok = await call("/v1/auth/login", { body: { username, password: "correct horse battery" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("ratelimit-limit")).not.toBeNull();
    const { access_token } = await json(ok);
    expect(await json(await call("/v1/me", { auth: access_token }))).toEqual({
      sub: `user:${username}`,
      tenant,
      roles: ["reader"],
      auth: "jwt",
    });

    await expectUnauthorized(await call("/v1/auth/login", { body: { username, password: "wrong" } }), "INVALID_CREDENTIALS");
    await expectUnauthorized(await call("/v1/auth/login", { body: { username: "nobody-here", password: "x" } }), "INVALID_CREDENTIALS");
  });
});

describe("service tokens (security)", () => {
  it("kills tokens minted from a key when the key is revoked", async () => {
    const tenant = uniqueTenant();
    const admin = await createKey(tenant, ["admin"]);
    const reader = await createKey(tenant, ["reader"]);
    const { access_token } = await json(await call("/v1/auth/token", { method: "POST", auth: reader.key }));
    expect((await call("/v1/me", { auth: access_token })).status).toBe(200);
    await call(`/v1/api-keys/${reader.id}`, { method: "DELETE", auth: admin.key });
    await expectUnauthorized(await call("/v1/me", { auth: access_token }), "TOKEN_REVOKED");
  });

  it("only exchanges API keys, not tokens", async () => {
    const token = await serviceToken({});
    await expectUnauthorized(await call("/v1/auth/token", { method: "POST", auth: token }), "CREDENTIAL_NOT_ACCEPTED");
  });

  it("rejects alg none, bad signatures, wrong issuer or audience, expired and not-yet-valid tokens", async () => {
    const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "x", tenant: "acme", roles: ["admin"], iss: "edge-rag", aud: "edge-rag-api", exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    await expectUnauthorized(await call("/v1/me", { auth: none }), "TOKEN_ALG_NOT_ALLOWED");
    await expectUnauthorized(await call("/v1/me", { auth: await serviceToken({}, { secret: "x".repeat(48) }) }), "TOKEN_SIGNATURE_INVALID");
    await expectUnauthorized(await call("/v1/me", { auth: await serviceToken({}, { issuer: "someone-else" }) }), "TOKEN_CLAIM_INVALID");
    await expectUnauthorized(await call("/v1/me", { auth: await serviceToken({}, { audience: "other-api" }) }), "TOKEN_CLAIM_INVALID");
    await expectUnauthorized(
      await call("/v1/me", { auth: await serviceToken({}, { expires: Math.floor(Date.now() / 1000) - 60 }) }),
      "TOKEN_EXPIRED",
    );
    await expectUnauthorized(await call("/v1/me", { auth: "not.a.jwt" }), "TOKEN_MALFORMED");
    const tampered = (await serviceToken({ roles: ["reader"] })).split(".");
    tampered[1] = b64url({
      sub: "x",
      tenant: "acme",
      roles: ["admin"],
      iss: "edge-rag",
      aud: "edge-rag-api",
      exp: Math.floor(Date.now() / 1000) + 60,
    });
    await expectUnauthorized(await call("/v1/me", { auth: tampered.join(".") }), "TOKEN_SIGNATURE_INVALID");
  });

  it("answers 401, not 500, for a token whose alg holds control characters", async () => {
    const token = `${b64url({ alg: "HS256\r\nX-Injected: 1", typ: "JWT" })}.${b64url({ sub: "x" })}.c2ln`;
    const response = await callWithEnv({ IDP_JWKS_URL: undefined }, "/v1/me", { auth: token });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-injected")).toBeNull();
  });

  it("rejects a token without a valid tenant claim", async () => {
    await expectUnauthorized(await call("/v1/me", { auth: await serviceToken({ tenant: "../etc" }) }), "TOKEN_CLAIM_INVALID");
  });
});

describe("shared caches (security)", () => {
  it("marks tokens, credentialed reads and probes no-store; public pages keep their own caching", async () => {
    const tenant = uniqueTenant("no-store");
    const { key: admin } = await createKey(tenant, ["admin"]);
    const username = `bob-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(username, tenant, JSON.stringify(["reader"]), await hashPassword("correct horse battery"), Date.now())
      .run();
    expect(
      (await call("/v1/documents", { auth: admin, body: { documents: [{ id: "kept.md", text: "A tenant's secret text." }] } })).status,
    ).toBe(202);
    // X-API-Key, which RFC 9111 §3.5 does not exempt from shared caching as it does Authorization.
    const withKey = { headers: { "x-api-key": admin } };
    const responses = {
      login: await call("/v1/auth/login", { body: { username, password: "correct horse battery" } }),
      token: await call("/v1/auth/token", { method: "POST", ...withKey }),
      me: await call("/v1/me", withKey),
      keys: await call("/v1/api-keys", withKey),
      documents: await call("/v1/documents", withKey),
      document: await call("/v1/documents/kept.md", withKey),
      stats: await call("/v1/stats", withKey),
      refused: await call("/v1/documents/missing.md", withKey),
      health: await call("/health"),
      ready: await call("/ready"),
    };
    for (const [name, response] of Object.entries(responses)) {
      expect(response.status, name).toBeLessThan(name === "refused" ? 500 : 300);
      expect(response.headers.get("cache-control"), name).toBe("no-store");
    }
    // Nothing per client in these: their caching is their own (revalidated assets, the public document).
    expect((await call("/console")).headers.get("cache-control")).not.toBe("no-store");
    expect((await call("/openapi.json")).headers.get("cache-control")).toBeNull();
  });
});

describe("identity provider tokens", () => {
  it.each(["RS256", "ES256", "EdDSA"] as const)("accepts %s tokens signed by a key of the JWKS", async (alg) => {
    const token = await idpToken(alg, { tenant: "acme", roles: ["writer", "unknown-role"] });
    const response = await call("/v1/me", { auth: token });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ sub: "user-123", tenant: "acme", roles: ["writer"], auth: "jwt" });
  });

  it("rejects algorithm confusion: HS256 signed with the provider's public key", async () => {
    const { d: _private, ...publicJwk } = idp.privateKeys.RS256;
    const confused = await new SignJWT({ tenant: "acme", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256", kid: publicJwk.kid })
      .setSubject("attacker")
      .setIssuer(IDP_ISSUER)
      .setAudience(IDP_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(encoder.encode(JSON.stringify(publicJwk)));
    // HS256 is only ever verified with the service's own secret, so the forged signature fails.
    await expectUnauthorized(await call("/v1/me", { auth: confused }), "TOKEN_SIGNATURE_INVALID");
  });

  it("rejects tokens of unknown keys, wrong issuer/audience, expired and not yet valid", async () => {
    await expectUnauthorized(await call("/v1/me", { auth: await idpToken("RS256", {}, { key: idp.strangerKey }) }), "TOKEN_KEY_UNKNOWN");
    await expectUnauthorized(
      await call("/v1/me", { auth: await idpToken("ES256", {}, { issuer: "https://evil.test/" }) }),
      "TOKEN_CLAIM_INVALID",
    );
    await expectUnauthorized(await call("/v1/me", { auth: await idpToken("ES256", {}, { audience: "other" }) }), "TOKEN_CLAIM_INVALID");
    await expectUnauthorized(
      await call("/v1/me", { auth: await idpToken("EdDSA", {}, { expires: Math.floor(Date.now() / 1000) - 120 }) }),
      "TOKEN_EXPIRED",
    );
    await expectUnauthorized(
      await call("/v1/me", { auth: await idpToken("EdDSA", {}, { notBefore: Math.floor(Date.now() / 1000) + 600 }) }),
      "TOKEN_NOT_YET_VALID",
    );
    await expectUnauthorized(await call("/v1/me", { auth: await idpToken("RS256", { tenant: undefined }) }), "TOKEN_CLAIM_INVALID");
  });

  it("honours the configured algorithm allow-list", async () => {
    const response = await callWithEnv({ IDP_ALGORITHMS: "ES256" }, "/v1/me", { auth: await idpToken("RS256") });
    await expectUnauthorized(response, "TOKEN_ALG_NOT_ALLOWED");
  });

  it("answers 503 when the provider's keys cannot be fetched", async () => {
    const response = await callWithEnv({ IDP_JWKS_URL: "http://127.0.0.1:9/jwks.json" }, "/v1/me", { auth: await idpToken("ES256") });
    expect(response.status).toBe(503);
    expect((await json(response)).code).toBe("IDP_UNAVAILABLE");
  });
});
