import { acrossWan } from "./round-trips";
import type { WanDependency } from "./wan-profiles";

/**
 * The worker's bindings at a distance: each remote port wrapped so that every call waits its
 * dependency's round trip (`acrossWan`) before it runs. Local entry only (src/local.ts); the
 * production entry never imports this folder (test/tools/deploy.test.ts checks).
 *
 * Promise: the same surface and results as the binding, later. Bindings are recognised by their
 * shape, not their name, so a new D1 database, KV namespace, queue or Durable Object namespace is
 * delayed too: D1 (primary, or a replica for a session's reads), KV (hot or cold by what this
 * isolate read recently), queue producers, Vectorize indexes, and Durable Object namespaces (the
 * local vector index's is VECTORIZE, any other TENANT_DATA), and the query backend's service
 * binding (BACKEND, by name). Everything else (assets, rate-limiting
 * bindings, Analytics Engine, variables) is in the colo and passes through.
 */
export function delayBindings<E extends object>(env: E): E {
  const delayed: Record<string, unknown> = { ...(env as Record<string, unknown>) };
  for (const [name, binding] of Object.entries(env)) {
    if (typeof binding !== "object" || binding === null) continue;
    // By name: an RPC stub answers every property with a method, so no shape tells it apart.
    if (name === "BACKEND") delayed[name] = delayMethods(binding, "BACKEND");
    else if (has(binding, "prepare", "batch", "exec")) delayed[name] = delayD1(binding as D1Database);
    else if (has(binding, "getWithMetadata", "put", "list")) delayed[name] = delayKv(binding as KVNamespace);
    else if (has(binding, "send", "sendBatch")) delayed[name] = delayMethods(binding, "QUEUE");
    else if (has(binding, "idFromName", "get"))
      delayed[name] = delayDurableObjectNamespace(
        binding as DurableObjectNamespace,
        name === "VECTOR_INDEX_DO" ? "VECTORIZE" : "TENANT_DATA",
      );
    else if (has(binding, "query", "upsert", "getByIds")) delayed[name] = delayMethods(binding, "VECTORIZE");
  }
  return delayed as E;
}

const has = (binding: object, ...methods: string[]) =>
  methods.every((method) => typeof (binding as Record<string, unknown>)[method] === "function");

/** Every method call waits the dependency's round trip; properties (and `then`) pass through. */
export function delayMethods<T extends object>(target: T, dependency: WanDependency): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof property === "symbol" || property === "then" || typeof value !== "function") return value;
      // Called through the object, not `value.apply`: on an RPC stub, `apply` would be a remote method.
      return (...args: unknown[]) =>
        acrossWan(dependency, () => (object as Record<PropertyKey, (...a: unknown[]) => unknown>)[property]!(...args));
    },
  });
}

/** `get`/`getByName` give stubs whose calls (RPC methods, fetch) wait the round trip; ids are made in the colo. */
export function delayDurableObjectNamespace<T extends DurableObjectNamespace>(namespace: T, dependency: WanDependency): T {
  return new Proxy(namespace, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof value !== "function") return value;
      if (property === "get" || property === "getByName")
        return (...args: unknown[]) => delayMethods(value.apply(object, args) as DurableObjectStub, dependency);
      return value.bind(object);
    },
  });
}

/**
 * A fetch whose requests to some hosts wait their round trip: `dependencyOf` names the dependency
 * behind a URL (the Upstash REST URL, an origin) or null for one in the colo.
 */
export function delayFetch(fetcher: typeof fetch, dependencyOf: (url: URL) => WanDependency | null): typeof fetch {
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const dependency = dependencyOf(url);
    return dependency ? acrossWan(dependency, () => fetcher(input, init)) : fetcher(input, init);
  }) as typeof fetch;
}

// ── D1 ─────────────────────────────────────────────────────────────────────────────────────────
// Without a session every query goes to the primary (D1 read replication works only through the
// Sessions API). In a session, reads go to a replica, except the first query of a "first-primary"
// session; writes always go to the primary.

type D1Route = (sql: string[]) => WanDependency;

const isRead = (sql: string) => /^\s*(select|with|pragma|explain)\b/i.test(sql) && !/\b(insert|update|delete|replace)\b/i.test(sql);

export function delayD1(db: D1Database): D1Database {
  const database = delayDatabase(db, () => "D1_PRIMARY") as D1Database;
  return Object.assign(database, {
    exec: (query: string) => acrossWan("D1_PRIMARY", () => db.exec(query)),
    withSession: (constraint?: string) => {
      const session = db.withSession(constraint as D1SessionConstraint);
      let primaryFirst = constraint === "first-primary";
      const route: D1Route = (sql) => {
        const toPrimary = primaryFirst || !sql.every(isRead);
        primaryFirst = false;
        return toPrimary ? "D1_PRIMARY" : "D1_REPLICA";
      };
      return Object.assign(delayDatabase(session, route), { getBookmark: () => session.getBookmark() }) as D1DatabaseSession;
    },
  });
}

const statements = new WeakMap<object, { real: D1PreparedStatement; sql: string }>();

function delayDatabase(db: D1Database | D1DatabaseSession, route: D1Route): Pick<D1Database, "prepare" | "batch"> {
  const statement = (real: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const once = <T>(call: () => Promise<T>) => acrossWan(route([sql]), call);
    const delayed = {
      bind: (...values: unknown[]) => statement(real.bind(...values), sql),
      first: (column?: string) => once(() => (column === undefined ? real.first() : real.first(column))),
      run: () => once(() => real.run()),
      all: () => once(() => real.all()),
      raw: (options?: { columnNames?: boolean }) => once(() => real.raw(options as { columnNames?: false })),
    } as unknown as D1PreparedStatement;
    statements.set(delayed, { real, sql });
    return delayed;
  };
  return {
    prepare: (sql) => statement(db.prepare(sql), sql),
    // One batch is one round trip.
    batch: (list) => {
      const known = list.map((item) => statements.get(item) ?? { real: item, sql: "" });
      return acrossWan(route(known.map((item) => item.sql)), () => db.batch(known.map((item) => item.real)));
    },
  };
}

// ── KV ─────────────────────────────────────────────────────────────────────────────────────────
// A colo caches a key it has read for the read's cacheTtl (default and minimum 60 s): a read of a key
// this isolate read or wrote within that time is hot (KV_HOT), any other is cold (KV_COLD: central
// storage). Writes, deletes and lists go to central storage.

const KV_CACHE_TTL_MS = 60_000;
const KV_TRACKED_KEYS = 10_000;

export function delayKv(kv: KVNamespace): KVNamespace {
  const hotUntil = new Map<string, number>();
  const touch = (key: string, ttlMs: number) => {
    hotUntil.delete(key);
    hotUntil.set(key, Date.now() + ttlMs);
    if (hotUntil.size > KV_TRACKED_KEYS) hotUntil.delete(hotUntil.keys().next().value as string);
  };
  const read = (args: unknown[], call: () => Promise<unknown>) => {
    const keys = Array.isArray(args[0]) ? (args[0] as string[]) : [String(args[0])];
    const options = args[1];
    const cacheTtl = typeof options === "object" && options !== null ? (options as { cacheTtl?: number }).cacheTtl : undefined;
    const now = Date.now();
    const hot = keys.every((key) => (hotUntil.get(key) ?? 0) > now);
    return acrossWan(hot ? "KV_HOT" : "KV_COLD", async () => {
      const result = await call();
      for (const key of keys) touch(key, Math.max(KV_CACHE_TTL_MS, (cacheTtl ?? 0) * 1000));
      return result;
    });
  };
  return new Proxy(kv, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof value !== "function") return value;
      const call = (args: unknown[]) => () => value.apply(object, args) as Promise<unknown>;
      if (property === "get" || property === "getWithMetadata") return (...args: unknown[]) => read(args, call(args));
      if (property === "put" || property === "delete")
        return (...args: unknown[]) =>
          acrossWan("KV_COLD", async () => {
            const result = await call(args)();
            touch(String(args[0]), KV_CACHE_TTL_MS);
            return result;
          });
      return (...args: unknown[]) => acrossWan("KV_COLD", call(args));
    },
  });
}
