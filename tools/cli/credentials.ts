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

async function executeSql(values: Values, sql: string): Promise<void> {
  const env = typeof values.env === "string" ? values.env : "local";
  if (!["local", "staging", "production"].includes(env)) throw new UsageError("--env is local, staging or production");
  const target =
    env === "local"
      ? ["--local", "--persist-to", typeof values["persist-to"] === "string" ? values["persist-to"] : join(ROOT, ".wrangler/state")]
      : ["--remote", "--env", env];
  // A file rather than --command: nothing secret-adjacent ends up in the process list.
  const dir = mkdtempSync(join(tmpdir(), "edge-rag-"));
  const file = join(dir, "statement.sql");
  writeFileSync(file, sql, { mode: 0o600 });
  try {
    if (env === "local") await wrangler(["d1", "migrations", "apply", "DB", ...target]);
    await wrangler(["d1", "execute", "DB", ...target, "--file", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
    `INSERT INTO api_keys (id, tenant, name, roles, secret_hash, created_at, created_by, expires_at) VALUES (${[
      id,
      tenant,
      name,
      JSON.stringify(roles),
      secretHash,
      now,
      "cli",
      expiresIn === null ? null : now + expiresIn * 1000,
    ]
      .map(sqlValue)
      .join(", ")});`,
  );
  return { id, key, tenant, roles };
}

export async function createKeyCommand(values: Values): Promise<void> {
  const { id, key, tenant, roles } = await createApiKey(values);
  console.error(`created API key ${id} for tenant ${tenant} with roles ${roles.join(",")} (shown once):`);
  console.log(key);
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

export async function createUserCommand(values: Values): Promise<void> {
  const tenant = tenantOf(values);
  const roles = rolesOf(values);
  const username = requireString(values, "username");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/.test(username))
    throw new UsageError("--username must match [A-Za-z0-9][A-Za-z0-9_.@-]{0,127}");
  const { password, generated } = await readPassword();
  const passwordHash = await hashPassword(password);
  await executeSql(
    values,
    `INSERT INTO users (username, tenant, roles, password_hash, created_at) VALUES (${[username, tenant, JSON.stringify(roles), passwordHash, Date.now()].map(sqlValue).join(", ")})
     ON CONFLICT (username) DO UPDATE SET tenant = excluded.tenant, roles = excluded.roles, password_hash = excluded.password_hash, disabled_at = NULL;`,
  );
  console.error(`user ${username} (tenant ${tenant}, roles ${roles.join(",")}) is ready`);
  if (generated) console.log(password);
}
