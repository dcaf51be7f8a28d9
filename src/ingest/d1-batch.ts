/**
 * A D1 batch assembled statement by statement, whose results are read by handle instead of by
 * position: `const mark = batch.add(statement); … await batch.run(); mark.changes()`. D1 runs a
 * batch as one transaction (all or nothing), statements in the order they were added.
 *
 * Failure mode: `run` rejects with D1's error (StoreUnavailable through the guarded binding) and
 * nothing of the batch is written. Reading a handle before `run` resolved is a programming error
 * and throws.
 */
export interface D1Batch {
  /** Queues a statement; its handle reads its result once the batch has run. */
  add(statement: D1PreparedStatement): StatementResult;
  /** Queues statements whose results nobody reads. */
  addAll(statements: Iterable<D1PreparedStatement>): void;
  readonly size: number;
  /** Runs everything queued in one D1 batch (nothing when empty). */
  run(): Promise<void>;
}

export interface StatementResult {
  /** Rows the statement inserted, updated or deleted. */
  changes(): number;
  /** The rows the statement returned. */
  rows<T>(): T[];
}

export function createD1Batch(db: D1Database): D1Batch {
  const statements: D1PreparedStatement[] = [];
  let results: D1Result[] | null = null;
  const resultAt = (at: number): D1Result => {
    if (!results) throw new Error("a D1 batch result was read before the batch ran");
    return results[at]!;
  };
  return {
    add(statement) {
      const at = statements.push(statement) - 1;
      return { changes: () => resultAt(at).meta.changes ?? 0, rows: <T>() => resultAt(at).results as T[] };
    },
    addAll(more) {
      statements.push(...more);
    },
    get size() {
      return statements.length;
    },
    async run() {
      results = statements.length > 0 ? await db.batch(statements) : [];
    },
  };
}
