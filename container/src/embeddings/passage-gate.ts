/**
 * Queries first, on a CPU that both lanes share. The local model's query and passage threads run on
 * the same cores as the worker and the origin's event loop; at nice 10 the passage threads still
 * took most of a core from queries that keep 1.7 of 2 cores busy (README, Performance: "Where the
 * cores went"). So while queries are active, fewer passage groups run at once: `whileQueries`
 * rather than one per thread. When no query has been embedded for `quietMs`, every thread works again.
 *
 * Promises: a query never waits here; a passage group waits only for another passage group, so an
 * ingest slows while queries arrive but never stops. Only for a backend that computes on this
 * machine: a remote embedder has no cores to share with the queries.
 */
export type PassageGateOptions = {
  /** How long after the last query embedding ended the queries count as active. */
  quietMs: number;
  /** Passage groups at once while queries are active (at least 1). */
  whileQueries: number;
  /** Observes how long each passage group waited for its turn, in seconds (0: not held back). */
  onWait?: (seconds: number) => void;
};

export function createPassageGate({ quietMs, whileQueries, onWait }: PassageGateOptions) {
  let queriesRunning = 0;
  let lastQueryEnded = Number.NEGATIVE_INFINITY;
  let passagesRunning = 0;
  const waiting: (() => void)[] = [];
  let recheck: NodeJS.Timeout | undefined;

  const queriesActive = () => queriesRunning > 0 || performance.now() - lastQueryEnded < quietMs;

  function admit() {
    while (waiting.length > 0 && (passagesRunning < Math.max(1, whileQueries) || !queriesActive())) {
      passagesRunning++;
      waiting.shift()!();
    }
    // Held back by recent queries: look again when they have been quiet for `quietMs`.
    if (waiting.length > 0 && queriesRunning === 0 && !recheck) {
      recheck = setTimeout(
        () => {
          recheck = undefined;
          admit();
        },
        Math.max(1, Math.ceil(quietMs - (performance.now() - lastQueryEnded))),
      );
      recheck.unref();
    }
  }

  return {
    async query<T>(work: () => Promise<T>): Promise<T> {
      queriesRunning++;
      try {
        return await work();
      } finally {
        queriesRunning--;
        lastQueryEnded = performance.now();
        admit();
      }
    },

    async passage<T>(work: () => Promise<T>): Promise<T> {
      const queued = performance.now();
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        admit();
      });
      onWait?.((performance.now() - queued) / 1000);
      try {
        return await work();
      } finally {
        passagesRunning--;
        admit();
      }
    },

    /** Passage groups running and waiting (for tests). */
    get passages() {
      return { running: passagesRunning, waiting: waiting.length };
    },
  };
}
