/**
 * A per-origin circuit breaker. closed → (failureThreshold consecutive failures) → open →
 * (cooldown elapsed) → half-open: one probe request is let through; its success closes the
 * circuit, its failure opens it again for another cooldown.
 */
export interface CircuitBreaker {
  allowRequest(): boolean;
  recordSuccess(): void;
  recordFailure(): void;
  state(): "closed" | "open" | "half-open";
}

export function createCircuitBreaker(options: { failureThreshold: number; cooldownMs: number; now?: () => number }): CircuitBreaker {
  const now = options.now ?? Date.now;
  let failures = 0;
  let openedAt: number | null = null;
  let probing = false;

  const state = () => {
    if (openedAt === null) return "closed" as const;
    return now() - openedAt >= options.cooldownMs ? ("half-open" as const) : ("open" as const);
  };

  return {
    state,
    allowRequest() {
      const current = state();
      if (current === "closed") return true;
      if (current === "open" || probing) return false;
      probing = true; // half-open: exactly one probe at a time
      return true;
    },
    recordSuccess() {
      failures = 0;
      openedAt = null;
      probing = false;
    },
    recordFailure() {
      failures += 1;
      if (probing || failures >= options.failureThreshold) openedAt = now();
      probing = false;
    },
  };
}
