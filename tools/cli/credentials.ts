import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateApiKey } from "../../src/auth/api-keys";
import { hashPassword } from "../../src/auth/passwords";
import { parseRoles, type Role, TENANT_PATTERN } from "../../src/auth/principal";
import { ROOT } from "../stack/paths";
import { wrangler } from "../stack/wrangler";
import { UsageError } from "./usage-error";

/**
 * Credentials written straight into D1 with `wrangler d1 execute`: the way to get the first admin
 * (nobody can call POST /v1/api-keys before an admin exists). `--env local` writes to the D1 that
 * `npm start` uses; staging/production write to the remote database of that wrangler environment.
 */
type Values = Record<string, string | boolean | undefined>;

const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;
const sqlValue = (value: string | number | null) =>
  value === null ? "NULL" : typeof value === "number" ? String(value) : sqlString(value);

function requireString(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== "string" || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

function tenantOf(values: Values): string {
  const tenant = requireString(values, "tenant");
  if (!TENANT_PATTERN.test(tenant)) throw new UsageError("--tenant must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  return tenant;
}

function rolesOf(values: Values): Role[] {
  const raw = requireString(values, "roles")
    .split(",")
    .map((role) => role.trim());
  const roles = parseRoles(raw);
  if (roles.length !== raw.length) throw new UsageError("--roles takes a comma-separated subset of reader,writer,admin");
  return roles;
}

function targetOf(values: Values): { env: string; target: string[] } {
  const env = typeof values.env === "string" ? values.env : "local";
  if (!["local", "staging", "production"].includes(env)) throw new UsageError("--env is local, staging or production");
  const target =
    env === "local"
      ? ["--local", "--persist-to", typeof values["persist-to"] === "string" ? values["persist-to"] : join(ROOT, ".wrangler/state")]
      : ["--remote", "--env", env];
  return { env, target };
}

/**
 * The local database's migrations, applied first (a checkout that never ran `npm start` has none).
 * Idempotent, so tried again: its wrangler opens the same SQLite file as a running `npm start`, and
 * on a busy machine has been seen to exit 1 once in a while (its output then ends the error).
 */
async function applyLocalMigrations(target: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await wrangler(["d1", "migrations", "apply", "DB", ...target]);
      return;
    } catch (error) {
      if (attempt === 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
    }
  }
}

async function executeSql(values: Values, sql: string): Promise<void> {
  const { env, target } = targetOf(values);
  // A file rather than --command: nothing secret-adjacent ends up in the process list.
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-"));
  const file = join(dir, "statement.sql");
  writeFileSync(file, sql, { mode: 0o600 });
  try {
    if (env === "local") await applyLocalMigrations(target);
    await wrangler(["d1", "execute", "DB", ...target, "--file", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one statement with `wrangler d1 execute --json` and returns its rows (UPDATE … RETURNING for what changed). */
async function querySql<T>(values: Values, sql: string): Promise<{ rows: T[] }> {
  const { env, target } = targetOf(values);
  if (env === "local") await applyLocalMigrations(target);
  // A file, as in executeSql: not even a password hash in the process list.
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-"));
  const file = join(dir, "statement.sql");
  writeFileSync(file, sql, { mode: 0o600 });
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "d1", "execute", "DB", ...target, "--json", "--file", file],
      { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`wrangler d1 execute failed (exit ${code}): ${(errors || output).trim().slice(-500)}`)),
    );
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
  const [result] = JSON.parse(stdout) as Array<{ results: T[] }>;
  return { rows: result?.results ?? [] };
}

/** Creates an API key in D1 and returns it (the only time the full key exists). */
export async function createApiKey(values: Values): Promise<{ id: string; key: string; tenant: string; roles: Role[] }> {
  const tenant = tenantOf(values);
  const roles = rolesOf(values);
  const name = typeof values.name === "string" ? values.name : `cli-${roles.join("-")}`;
  const expiresIn = typeof values["expires-in"] === "string" ? Number(values["expires-in"]) : null;
  if (expiresIn !== null && !(Number.isInteger(expiresIn) && expiresIn >= 60))
    throw new UsageError("--expires-in is a whole number of seconds ≥ 60");
  const now = Date.now();
  const { id, key, secretHash } = await generateApiKey();
  await executeSql(
    values,
    apiKeysInsert([{ id, tenant, name, roles, secretHash, createdAt: now, expiresAt: expiresIn === null ? null : now + expiresIn * 1000 }]),
  );
  return { id, key, tenant, roles };
}

/** One INSERT of API key rows created by the CLI (`keys create`, and the bench's tenants in bulk). */
export function apiKeysInsert(
  keys: Array<{ id: string; tenant: string; name: string; roles: Role[]; secretHash: string; createdAt: number; expiresAt: number | null }>,
): string {
  const rows = keys.map(
    (k) => `(${[k.id, k.tenant, k.name, JSON.stringify(k.roles), k.secretHash, k.createdAt, "cli", k.expiresAt].map(sqlValue).join(", ")})`,
  );
  return `INSERT INTO api_keys (id, tenant, name, roles, secret_hash, created_at, created_by, expires_at) VALUES ${rows.join(",\n")};`;
}

export async function createKeyCommand(values: Values): Promise<void> {
  const { id, key, tenant, roles } = await createApiKey(values);
  console.error(`created API key ${id} for tenant ${tenant} with roles ${roles.join(",")} (shown once):`);
  console.log(key);
}

function usernameOf(values: Values): string {
  const username = requireString(values, "username");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/.test(username))
    throw new UsageError("--username must match [A-Za-z0-9][A-Za-z0-9_.@-]{0,127}");
  return username;
}

async function readPassword(): Promise<{ password: string; generated: boolean }> {
  if (process.stdin.isTTY) {
    const { randomBytes } = await import("node:crypto");
    return { password: randomBytes(18).toString("base64url"), generated: true };
  }
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const password = input.replace(/\r?\n$/, "");
  if (password.length < 12) throw new UsageError("the password (from stdin) must be at least 12 characters");
  return { password, generated: false };
}

/** Creates a user, or replaces an existing one's tenant, roles and password and invalidates their tokens. */
export async function createUserCommand(values: Values): Promise<void> {
  const tenant = tenantOf(values);
  const roles = rolesOf(values);
  const username = usernameOf(values);
  const { password, generated } = await readPassword();
  const passwordHash = await hashPassword(password);
  await executeSql(
    values,
    `INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (${[username, tenant, JSON.stringify(roles), passwordHash, Date.now()].map(sqlValue).join(", ")})
     ON CONFLICT (username) DO UPDATE SET tenant = excluded.tenant, roles = excluded.roles, password_hash = excluded.password_hash, disabled_at = NULL, token_version = users.token_version + 1;`,
  );
  console.error(`user ${username} (tenant ${tenant}, roles ${roles.join(",")}) is ready`);
  if (generated) console.log(password);
}

interface UserRow {
  username: string;
  tenant: string;
  roles: string;
  created_at: number;
  disabled_at: number | null;
}

/** Lists users (of one tenant with --tenant), never their password hashes. */
export async function listUsersCommand(values: Values): Promise<void> {
  const tenant = typeof values.tenant === "string" ? tenantOf(values) : undefined;
  const { rows } = await querySql<UserRow>(
    values,
    `SELECT username, tenant, roles, created_at, disabled_at FROM users${tenant ? ` WHERE tenant = ${sqlString(tenant)}` : ""} ORDER BY tenant, username;`,
  );
  const users = rows.map((row) => ({
    username: row.username,
    tenant: row.tenant,
    roles: JSON.parse(row.roles) as string[],
    created_at: new Date(row.created_at).toISOString(),
    disabled_at: row.disabled_at === null ? null : new Date(row.disabled_at).toISOString(),
  }));
  if (values.json) {
    console.log(JSON.stringify(users, null, 2));
    return;
  }
  for (const user of users)
    console.log(
      `${user.username}\t${user.tenant}\t${user.roles.join(",")}\t${user.disabled_at ? `disabled ${user.disabled_at}` : "active"}`,
    );
}

/**
 * Disables a user: login refuses them, and bumping token_version invalidates the JWTs they already
 * hold. `users create` with the same username enables them again (with a new password). Their API
 * keys belong to the tenant and keep working unless `--revoke-keys` revokes the active ones they
 * created (`keys list` shows each key's creator).
 */
export async function disableUserCommand(values: Values): Promise<void> {
  const username = usernameOf(values);
  const { rows } = await querySql<{ tenant: string }>(
    values,
    `UPDATE users SET disabled_at = ${Date.now()}, token_version = token_version + 1 WHERE username = ${sqlString(username)} RETURNING tenant;`,
  );
  if (rows.length === 0) throw new NotFound(`no user ${username}`);
  console.error(`user ${username} is disabled; their tokens no longer work`);
  if (!values["revoke-keys"]) return;
  const revoked = await querySql<{ id: string }>(
    values,
    `UPDATE api_keys SET revoked_at = ${Date.now()} WHERE created_by = ${sqlString(`user:${username}`)} AND tenant = ${sqlString(rows[0]!.tenant)} AND revoked_at IS NULL RETURNING id;`,
  );
  for (const { id } of revoked.rows) console.log(id);
  console.error(`revoked ${revoked.rows.length} API key(s) ${username} created; they stop working within seconds`);
}

/** Sets a new password (stdin, or generated and printed on a TTY) and invalidates the user's tokens. */
export async function resetPasswordCommand(values: Values): Promise<void> {
  const username = usernameOf(values);
  const { password, generated } = await readPassword();
  const passwordHash = await hashPassword(password);
  const { rows } = await querySql(
    values,
    `UPDATE users SET password_hash = ${sqlString(passwordHash)}, token_version = token_version + 1 WHERE username = ${sqlString(username)} RETURNING username;`,
  );
  if (rows.length === 0) throw new NotFound(`no user ${username}`);
  console.error(`user ${username} has a new password; their earlier tokens no longer work`);
  if (generated) console.log(password);
}

/** Exit code 4, as for a 404 from the API. */
export class NotFound extends Error {}
