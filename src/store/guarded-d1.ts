import { StoreUnavailable } from "../errors";

/**
 * D1 with one failure type. Promise: the same `D1Database` surface, and every failure of the
 * binding (an outage, overload, a statement D1 refuses) rejects with `StoreUnavailable` (503,
 * the binding's error kept as `cause` for the logs), so nothing above it has to recognise D1's
 * errors by their message. Latency: none added; one object per prepared statement.
 */
export function guardD1(db: D1Database): D1Database {
  const guarded: Pick<D1Database, "prepare" | "batch" | "exec" | "withSession"> = {
    prepare: (query) => guardStatement(guard(() => db.prepare(query))),
    batch: (statements) => guardAsync(() => db.batch(statements.map(unguarded))),
    exec: (query) => guardAsync(() => db.exec(query)),
    // A session (the Sessions API: read replicas, bookmarks) fails the same way.
    withSession: (constraint) => guardSession(guard(() => db.withSession(constraint))),
  };
  return guarded as D1Database;
}

function guardSession(session: D1DatabaseSession): D1DatabaseSession {
  const guarded: Pick<D1DatabaseSession, "prepare" | "batch" | "getBookmark"> = {
    prepare: (query) => guardStatement(guard(() => session.prepare(query))),
    batch: (statements) => guardAsync(() => session.batch(statements.map(unguarded))),
    getBookmark: () => session.getBookmark(),
  };
  return guarded as D1DatabaseSession;
}

const inner = new WeakMap<object, D1PreparedStatement>();

/** The binding's own statement: `batch` accepts only those. */
const unguarded = (statement: D1PreparedStatement) => inner.get(statement) ?? statement;

function guardStatement(statement: D1PreparedStatement): D1PreparedStatement {
  const guarded = {
    bind: (...values: unknown[]) => guardStatement(guard(() => statement.bind(...values))),
    first: (column?: string) => guardAsync(() => (column === undefined ? statement.first() : statement.first(column))),
    run: () => guardAsync(() => statement.run()),
    all: () => guardAsync(() => statement.all()),
    raw: (options?: { columnNames?: boolean }) => guardAsync(() => statement.raw(options as { columnNames?: false })),
  } as unknown as D1PreparedStatement;
  inner.set(guarded, statement);
  return guarded;
}

function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new StoreUnavailable(error);
  }
}

async function guardAsync<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new StoreUnavailable(error);
  }
}
