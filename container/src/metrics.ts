import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Every Prometheus metric the origin exports, on one registry per app instance (tests build several).
 * The Grafana dashboard and the alert rules reference these names; a test checks they all exist.
 */
export function createMetrics() {
  const registry = new Registry();
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds, heap, GC, ...
  collectDefaultMetrics({ register: registry });

  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  return {
    registry,
    httpRequests: new Counter({
      name: "origin_http_requests_total",
      help: "HTTP requests by method, route and status.",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "origin_http_request_duration_seconds",
      help: "HTTP request latency (until the response body ends) by method, route and status.",
      labelNames: ["method", "route", "status"] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    httpInFlight: new Gauge({
      name: "origin_http_requests_in_flight",
      help: "HTTP requests being served.",
      registers: [registry],
    }),
    embedInputs: new Counter({
      name: "origin_embed_inputs_total",
      help: "Texts embedded, by kind (query or passage).",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    embedBatchSize: new Histogram({
      name: "origin_embed_batch_size",
      help: "Inputs per batch sent to the embedding backend (after micro-batching).",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    embedQueueWait: new Histogram({
      name: "origin_embed_queue_wait_seconds",
      help: "Time an input waited in the micro-batch queue before its batch was dispatched.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    embedPassageGateWait: new Histogram({
      name: "origin_embed_passage_gate_wait_seconds",
      help: "Time a passage group (local model) waited while queries were active and passages ran on fewer threads.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    embedBackendDuration: new Histogram({
      name: "origin_embed_backend_duration_seconds",
      help: "Embedding backend latency per batch.",
      buckets: latencyBuckets,
      registers: [registry],
    }),
    chunksCreated: new Counter({
      name: "origin_chunks_created_total",
      help: "Chunks produced by /v1/chunk and /v1/ingest.",
      registers: [registry],
    }),
    generationTokens: new Counter({
      name: "origin_generation_tokens_total",
      help: "Completion tokens generated, by backend.",
      labelNames: ["backend"] as const,
      registers: [registry],
    }),
    generationTimeToFirstToken: new Histogram({
      name: "origin_generation_time_to_first_token_seconds",
      help: "Time from the generate request to its first answer token.",
      labelNames: ["backend"] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    embedShed: new Counter({
      name: "origin_embed_shed_total",
      help: "Embed calls refused with 503 because their lane's queue was full (EMBED_MAX_QUEUE), by kind.",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    clientClosed: new Counter({
      name: "origin_client_closed_total",
      help: "Requests whose client went away before the answer was complete (not backend errors), by route.",
      labelNames: ["route"] as const,
      registers: [registry],
    }),
    backendErrors: new Counter({
      name: "origin_backend_errors_total",
      help: "Embedding/generation backend failures, by backend and problem code.",
      labelNames: ["backend", "code"] as const,
      registers: [registry],
    }),
    ready: new Gauge({
      name: "origin_ready",
      help: "1 when the last readiness check passed, else 0.",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
