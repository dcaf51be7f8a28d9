import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { createApp } from "../../src/app";
import { createApiKeyStore } from "../../src/auth/api-key-store";
import type { Role } from "../../src/auth/principal";
import { loadConfig } from "../../src/config";
import { localServices, localVectorIndex } from "../../src/local";
import { createServices, type PlatformAdapters, type ServicesFactory, servicesFactory } from "../../src/services";

/** Test helpers shared by the worker suites. */

let tenantCounter = 0;
/** A tenant no other test uses, so suites never see each other's data. */
export const uniqueTenant = (label = "t") =>
  `${label}-${Date.now().toString(36)}-${(tenantCounter++).toString(36)}-${crypto.randomUUID().slice(0, 8)}`;

/** The tenant's own object (its data plane), unguarded: what the services reach through the port. */
export const tenantObject = (tenant: string) => env.TENANT_DATA.get(env.TENANT_DATA.idFromName(tenant));

/** Runs SQL inside the tenant's object, as a test's direct look at (or change to) its storage. */
export function tenantSql<T = Record<string, SqlStorageValue>>(tenant: string, sql: string, ...bindings: unknown[]): Promise<T[]> {
  return runInDurableObject(tenantObject(tenant), (_instance, state) => state.storage.sql.exec(sql, ...bindings).toArray() as T[]);
}

/** The first row of SQL run inside the tenant's object, or null. */
export async function tenantFirst<T = Record<string, SqlStorageValue>>(
  tenant: string,
  sql: string,
  ...bindings: unknown[]
): Promise<T | null> {
  return (await tenantSql<T>(tenant, sql, ...bindings))[0] ?? null;
}

/** Creates an API key straight in D1 (as the CLI does) and returns the full key. */
export async function createKey(
  tenant: string,
  roles: Role[],
  options: { expiresAt?: number | null; name?: string } = {},
): Promise<{ id: string; key: string }> {
  const store = createApiKeyStore(env.DB, { cacheTtlMs: 0 });
  const created = await store.create({
    tenant,
    name: options.name ?? "test",
    roles,
    expiresAt: options.expiresAt ?? null,
    createdBy: "test",
  });
  if (!created) throw new Error("unreachable: no key cap given");
  return { id: created.record.id, key: created.key };
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** An API key or JWT, sent as a bearer credential. */
  auth?: string;
  headers?: Record<string, string>;
}

function toRequest(path: string, options: CallOptions): Request {
  const headers = new Headers(options.headers);
  if (options.auth) headers.set("authorization", `Bearer ${options.auth}`);
  let body: BodyInit | undefined;
  // A form is sent as multipart, with the content type (and boundary) it sets itself.
  if (options.body instanceof FormData) body = options.body;
  else if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  return new Request(`http://edge-rag.test${path}`, { method: options.method ?? (body ? "POST" : "GET"), headers, body });
}

/** Calls the deployed-shape worker (its default export) with the test bindings. */
export function call(path: string, options: CallOptions = {}): Promise<Response> {
  return exports.default.fetch(toRequest(path, options));
}

/**
 * Calls a fresh app with some bindings replaced, e.g. an origin URL nobody listens on, to test how
 * the API behaves when a dependency is down.
 */
export function callWithEnv(overrides: Record<string, unknown>, path: string, options: CallOptions = {}): Promise<Response> {
  return callApp(localServices, bindingsWith(overrides), path, options);
}

/**
 * The test bindings with some replaced, as ONE object: calls with it share the services built for
 * it (and so the isolate-memory cache tier), as requests to one isolate do. Without the BACKEND
 * binding (unless an override names it): the query backend runs on the test's own bindings, which
 * a replacement here would not reach, so a miss runs in the front, on the replaced ones (the path a
 * front takes when its backend is unreachable). Calls with `env` itself go through the backend.
 */
export const bindingsWith = (overrides: Record<string, unknown>) => ({ ...env, BACKEND: undefined, ...overrides });

/** Calls the local app (or these services) with these bindings (see bindingsWith). */
export function callWithBindings(bindings: object, path: string, options: CallOptions = {}, services = localServices): Promise<Response> {
  return callApp(services, bindings, path, options);
}

/** A clock that a test moves instead of sleeping: real time plus what the test advanced. */
export function testClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
  };
}

/** The local services with this clock behind every cache expiry, built once per bindings object as localServices are. */
export const localServicesAt = (now: () => number): ServicesFactory =>
  servicesFactory((bindings, config) => ({ vectors: localVectorIndex(bindings, config) }), now);

/**
 * Services over the test bindings with platform adapters replaced, e.g. a failing or lagging vector
 * index; a miss runs in the front, on them (the query backend would run on its own: bindingsWith).
 */
export const servicesWith =
  (platform: Partial<PlatformAdapters>): ServicesFactory =>
  (bindings) => {
    const config = loadConfig(bindings);
    return createServices({ ...bindings, BACKEND: undefined }, config, { vectors: platform.vectors ?? localVectorIndex(bindings, config) });
  };

/** Calls a fresh app built on these services. */
export function callWithServices(services: ServicesFactory, path: string, options: CallOptions = {}): Promise<Response> {
  return callApp(services, env, path, options);
}

async function callApp(services: ServicesFactory, bindings: object, path: string, options: CallOptions): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await createApp(services).fetch(toRequest(path, options), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export async function json<T = any>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** An origin URL on which nothing listens (port 9, discard, is closed on test machines). */
export const DEAD_ORIGIN = "http://127.0.0.1:9";
