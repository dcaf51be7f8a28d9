import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { hashPassword } from "../../src/auth/passwords";
import { bindingsWith, callWithBindings, json, uniqueTenant } from "./helpers";

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
