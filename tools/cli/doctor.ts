import { existsSync } from "node:fs";
import { join } from "node:path";
import { WORKERS_AI_EMBEDDING_DIMENSIONS, type WorkersAiEmbeddingModel } from "../../src/embedding/workers-ai-models";
import { mintOriginToken } from "../../src/origin/origin-token";
import { type K8sObject, kustomize } from "../lib/kustomize";
import { ROOT } from "../stack/paths";
import { wrangler } from "../stack/wrangler";
import { UsageError } from "./usage-error";

/**
 * `edge-rag doctor --env staging|production`: the deploy preflight. One line per check; any `fail`
 * exits non-zero. Offline it validates the configuration (wrangler.toml's environment and the
 * origin's Kubernetes overlay): placeholder ids and hosts, required bindings and variables, and
 * that worker, Workers AI fallback and origin embed with the same width. With credentials it also
 * asks Cloudflare (secrets set, Vectorize index shape, D1 migrations applied) and the origins
 * (authenticated readiness); without them those checks say `skip` and why — never `ok`.
 */

export type CheckStatus = "ok" | "fail" | "warn" | "skip";
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorOptions {
  env: "staging" | "production";
  /** Path to wrangler.toml (default: the repo's). */
  configPath?: string;
  /** The kustomize overlays folder (default: container/k8s/overlays). */
  overlaysDir?: string;
  /** Only the configuration checks; the online ones report `skip`. */
  offline?: boolean;
  /** Runs a wrangler command and returns its output (tests inject a fake). */
  runWrangler?: (args: string[]) => Promise<string>;
  fetch?: typeof fetch;
  /** Defaults to process.env: CLOUDFLARE_API_TOKEN (Cloudflare checks), ORIGIN_JWT_SECRET (origin readiness). */
  environment?: Record<string, string | undefined>;
}

/** Secrets the worker needs in staging and production (`wrangler secret put NAME --env <env>`). */
export const REQUIRED_SECRETS = ["AUTH_JWT_SECRET", "ORIGIN_JWT_SECRET"] as const;
/** The embedding models the origin (TEI) may serve, with their width. */
export const ORIGIN_EMBEDDING_DIMENSIONS: Record<string, number> = {
  "BAAI/bge-small-en-v1.5": 384,
  "BAAI/bge-base-en-v1.5": 768,
  "BAAI/bge-large-en-v1.5": 1024,
};
const DEFAULT_WORKERS_AI_MODEL: WorkersAiEmbeddingModel = "@cf/baai/bge-base-en-v1.5";
const DEFAULT_METADATA_INDEXES = ["collection:string", "document_id:string"];

/** An id made of one repeated digit (0000…, 1111…-1111-…) or with "placeholder"/"xxxx" in it. */
export function isPlaceholderId(id: unknown): boolean {
  if (typeof id !== "string" || id.trim() === "") return true;
  const bare = id.replaceAll("-", "").toLowerCase();
  return /^(.)\1*$/.test(bare) || /placeholder|xxxx|your[-_]|changeme|todo/i.test(id) || id.startsWith("edge-rag-local");
}

/** example.com / example.org / example.net and their subdomains, example*.upstash.io, localhost. */
export function isPlaceholderHost(host: string): boolean {
  const h = host.toLowerCase().replace(/:\d+$/, "");
  return (
    /(^|\.)example\.(com|org|net)$/.test(h) ||
    /^example[a-z0-9-]*\.upstash\.io$/.test(h) ||
    /(^|\.)(localhost|invalid|test)$/.test(h) ||
    /^127\.|^0\.0\.0\.0$/.test(h)
  );
}

const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
};

// biome-ignore lint/suspicious/noExplicitAny: wrangler's raw configuration is untyped TOML, read field by field
type Section = Record<string, any>;

/** wrangler's own parser (the one `wrangler deploy` uses), so the preflight reads what deploy reads. */
async function readWranglerConfig(configPath: string): Promise<Section> {
  const { experimental_readRawConfig } = await import("wrangler");
  return experimental_readRawConfig({ config: configPath }).rawConfig as Section;
}

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = (name: string, status: CheckStatus, detail: string) => results.push({ name, status, detail });
  const { env } = options;
  const configPath = options.configPath ?? join(ROOT, "wrangler.toml");
  const environment = options.environment ?? process.env;

  let root: Section;
  try {
    root = await readWranglerConfig(configPath);
  } catch (error) {
    check("config: wrangler.toml parses", "fail", error instanceof Error ? error.message.split("\n")[0]! : String(error));
    return results;
  }
  const section: Section | undefined = root.env?.[env];
  if (!section) {
    check(`config: [env.${env}] exists`, "fail", `${configPath} has no [env.${env}] section`);
    return results;
  }
  check(`config: [env.${env}] exists`, "ok", `worker ${section.name ?? root.name}`);
  const vars: Record<string, string> = section.vars ?? {};

  // ── Entry point and bindings ───────────────────────────────────────────────────────────────
  check(
    "config: production entry (main = src/index.ts)",
    section.main === "src/index.ts" ? "ok" : "fail",
    section.main === "src/index.ts"
      ? "Vectorize, no local stand-ins"
      : `main is ${section.main ?? root.main} (src/local.ts is for wrangler dev only)`,
  );

  const d1 = (section.d1_databases ?? []).find((d: Section) => d.binding === "DB");
  if (!d1) check("config: D1 database (DB)", "fail", `no [[env.${env}.d1_databases]] with binding = "DB"`);
  else if (isPlaceholderId(d1.database_id))
    check("config: D1 database (DB)", "fail", `database_id ${d1.database_id} is a placeholder: \`wrangler d1 create ${d1.database_name}\``);
  else if (!d1.migrations_dir) check("config: D1 database (DB)", "fail", "migrations_dir is not set");
  else check("config: D1 database (DB)", "ok", `${d1.database_name} (${d1.database_id})`);

  const kv = (section.kv_namespaces ?? []).find((k: Section) => k.binding === "KV");
  if (!kv) check("config: KV namespace (KV)", "fail", `no [[env.${env}.kv_namespaces]] with binding = "KV"`);
  else if (isPlaceholderId(kv.id))
    check("config: KV namespace (KV)", "fail", `id ${kv.id} is a placeholder: \`wrangler kv namespace create KV --env ${env}\``);
  else check("config: KV namespace (KV)", "ok", kv.id);

  const vectorize = (section.vectorize ?? []).find((v: Section) => v.binding === "VECTORIZE");
  check(
    "config: Vectorize index (VECTORIZE)",
    vectorize?.index_name ? "ok" : "fail",
    vectorize?.index_name ?? `no [[env.${env}.vectorize]] with binding = "VECTORIZE"`,
  );
  check(
    "config: Workers AI (AI)",
    section.ai?.binding === "AI" ? "ok" : "fail",
    section.ai?.binding === "AI" ? "query-embedding fallback" : `no [env.${env}.ai] binding = "AI"`,
  );
  const analytics = (section.analytics_engine_datasets ?? []).find((a: Section) => a.binding === "ANALYTICS");
  check(
    "config: Analytics Engine (ANALYTICS)",
    analytics?.dataset ? "ok" : "fail",
    analytics?.dataset
      ? `dataset ${analytics.dataset} (the edge dashboard reads it)`
      : `no [[env.${env}.analytics_engine_datasets]] with binding = "ANALYTICS"`,
  );
  const producers: Section[] = section.queues?.producers ?? [];
  const consumers: Section[] = section.queues?.consumers ?? [];
  const missingQueues = ["INGEST_QUEUE", "INGEST_DLQ"].filter((binding) => !producers.some((p) => p.binding === binding));
  const ingestQueue = producers.find((p) => p.binding === "INGEST_QUEUE")?.queue;
  if (missingQueues.length > 0) check("config: ingestion queues", "fail", `no producer binding ${missingQueues.join(", ")}`);
  else if (!consumers.some((c) => c.queue === ingestQueue && c.dead_letter_queue))
    check("config: ingestion queues", "fail", `no consumer of ${ingestQueue} with a dead_letter_queue`);
  else check("config: ingestion queues", "ok", `${ingestQueue} → dlq`);
  // Webhook deliveries: the consumer retries and fails a delivery itself, so no dead-letter queue (wrangler.toml says why).
  const webhookQueue = producers.find((p) => p.binding === "WEBHOOK_QUEUE")?.queue;
  if (!webhookQueue) check("config: webhook queue", "fail", "no producer binding WEBHOOK_QUEUE");
  else if (!consumers.some((c) => c.queue === webhookQueue))
    check("config: webhook queue", "fail", `no consumer of ${webhookQueue}: webhook deliveries would never be attempted`);
  else check("config: webhook queue", "ok", `${webhookQueue}, consumed`);

  const observability = section.observability ?? root.observability;
  check(
    "config: Workers Logs (observability)",
    observability?.enabled === true ? "ok" : "fail",
    observability?.enabled === true
      ? `enabled, head_sampling_rate ${observability.head_sampling_rate ?? 1}`
      : `[env.${env}.observability] enabled = true is missing: errors would leave no trace`,
  );

  // ── Variables and hosts ────────────────────────────────────────────────────────────────────
  check(
    "vars: ENVIRONMENT",
    vars.ENVIRONMENT === env ? "ok" : "fail",
    vars.ENVIRONMENT === env ? env : `ENVIRONMENT is ${vars.ENVIRONMENT ?? "unset"}, expected ${env} (vars are not inherited)`,
  );
  const origins = (vars.ORIGIN_URLS ?? "")
    .split(",")
    .map((url) => url.trim())
    .filter(Boolean);
  const originProblems = origins.flatMap((url) => {
    const host = hostOf(url);
    if (!host) return [`${url} is not a URL`];
    if (!url.startsWith("https://")) return [`${url} is not https`];
    return isPlaceholderHost(host) ? [`${host} is a placeholder`] : [];
  });
  if (origins.length === 0) check("vars: ORIGIN_URLS", "fail", "unset: the worker has no origin");
  else check("vars: ORIGIN_URLS", originProblems.length ? "fail" : "ok", originProblems.join("; ") || origins.join(", "));

  const cors = (vars.CORS_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((url) => url.trim())
    .filter(Boolean);
  const corsPlaceholders = cors.filter((url) => isPlaceholderHost(hostOf(url) ?? url));
  check(
    "vars: CORS_ALLOWED_ORIGINS",
    corsPlaceholders.length ? "fail" : cors.length ? "ok" : "warn",
    corsPlaceholders.length
      ? `placeholder origin(s): ${corsPlaceholders.join(", ")}`
      : cors.join(", ") || "empty: browsers cannot call the API",
  );

  const upstash = vars.UPSTASH_REDIS_REST_URL;
  if (!upstash) {
    const limiters = (section.ratelimits ?? []).map((r: Section) => r.name);
    const missing = ["RATE_LIMITER_QUERY", "RATE_LIMITER_INGEST", "RATE_LIMITER_AUTH"].filter((n) => !limiters.includes(n));
    check(
      "vars: UPSTASH_REDIS_REST_URL",
      missing.length ? "fail" : "warn",
      missing.length
        ? `unset, and no rate-limiting binding(s) ${missing.join(", ")} to fall back on`
        : "unset: rate limits use the per-colo Workers binding and the shared cache tier is off",
    );
  } else {
    const host = hostOf(upstash);
    check(
      "vars: UPSTASH_REDIS_REST_URL",
      !host || !upstash.startsWith("https://") || isPlaceholderHost(host) ? "fail" : "ok",
      !host ? `${upstash} is not a URL` : isPlaceholderHost(host) ? `${host} is a placeholder` : host,
    );
  }

  const routes: Array<string | Section> = section.routes ?? (section.route ? [section.route] : []);
  const routeHosts = routes.map((r) => (typeof r === "string" ? r : r.pattern)).map((p: string) => p.split("/")[0]!.replace(/^\*\.?/, ""));
  const placeholderRoutes = routeHosts.filter(isPlaceholderHost);
  if (routes.length === 0 && section.workers_dev !== true)
    check("config: routes", "fail", "no routes and workers_dev = false: nothing would serve the worker");
  else
    check(
      "config: routes",
      placeholderRoutes.length ? "fail" : "ok",
      placeholderRoutes.length ? `placeholder route(s): ${placeholderRoutes.join(", ")}` : routeHosts.join(", ") || "workers.dev",
    );

  // ── Embedding dimensions: worker, Workers AI fallback, origin overlay ─────────────────────
  const dimensions = Number(vars.EMBEDDING_DIMENSIONS);
  const dimensionsSet = Number.isInteger(dimensions) && dimensions > 0;
  check(
    "vars: EMBEDDING_DIMENSIONS",
    dimensionsSet ? "ok" : "fail",
    dimensionsSet
      ? String(dimensions)
      : `EMBEDDING_DIMENSIONS is ${vars.EMBEDDING_DIMENSIONS ?? "unset"} (the local default, 512, is the CPU model's)`,
  );
  const aiModel = vars.WORKERS_AI_EMBEDDING_MODEL ?? DEFAULT_WORKERS_AI_MODEL;
  if (aiModel === "none") check("dimensions: Workers AI fallback", "ok", "fallback off (WORKERS_AI_EMBEDDING_MODEL = none)");
  else {
    const aiDimensions = WORKERS_AI_EMBEDDING_DIMENSIONS[aiModel as WorkersAiEmbeddingModel];
    check(
      "dimensions: Workers AI fallback",
      aiDimensions === undefined || aiDimensions !== dimensions ? "fail" : "ok",
      aiDimensions === undefined
        ? `unknown model ${aiModel}`
        : `${aiModel} gives ${aiDimensions}-d vectors${aiDimensions === dimensions ? "" : `, EMBEDDING_DIMENSIONS is ${vars.EMBEDDING_DIMENSIONS}`}`,
    );
  }

  const overlay = join(options.overlaysDir ?? join(ROOT, "container/k8s/overlays"), env);
  let originModel: string | undefined;
  if (!existsSync(overlay)) check("origin: Kubernetes overlay", "fail", `${overlay} does not exist`);
  else {
    let objects: K8sObject[] = [];
    try {
      objects = kustomize(overlay);
      check("origin: Kubernetes overlay renders", "ok", `${objects.length} objects`);
    } catch (error) {
      check("origin: Kubernetes overlay renders", "fail", error instanceof Error ? error.message : String(error));
    }
    if (objects.length > 0) originModel = checkOverlay(objects, dimensions, origins, check);
  }

  // ── Online: Cloudflare and the origins ─────────────────────────────────────────────────────
  await onlineChecks(
    { ...options, environment, configPath },
    section,
    { d1, vectorize, dimensions, origins, originModel, vars, upstash },
    check,
  );
  return results;
}

function checkOverlay(
  objects: K8sObject[],
  dimensions: number,
  origins: string[],
  check: (name: string, status: CheckStatus, detail: string) => void,
): string | undefined {
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as Section | undefined;
  const origin = find("Deployment", "origin");
  const env: Section[] = origin?.spec.template.spec.containers.find((c: Section) => c.name === "origin")?.env ?? [];
  const value = (name: string) => env.find((e) => e.name === name)?.value as string | undefined;
  const model = value("EMBEDDINGS_MODEL");
  const originDimensions = Number(value("EMBEDDINGS_DIMENSIONS"));
  const known = model ? ORIGIN_EMBEDDING_DIMENSIONS[model] : undefined;
  const problems: string[] = [];
  if (!model) problems.push("the origin Deployment sets no EMBEDDINGS_MODEL");
  if (originDimensions !== dimensions)
    problems.push(`origin EMBEDDINGS_DIMENSIONS ${value("EMBEDDINGS_DIMENSIONS") ?? "unset"} ≠ worker ${dimensions}`);
  if (known !== undefined && known !== originDimensions) problems.push(`${model} gives ${known}-d vectors, not ${originDimensions}`);
  const teiArgs: string[] = find("Deployment", "tei")?.spec.template.spec.containers[0]?.args ?? [];
  const teiModel = teiArgs[teiArgs.indexOf("--model-id") + 1];
  if (teiArgs.includes("--model-id") && teiModel !== model) problems.push(`TEI serves ${teiModel}, the origin asks for ${model}`);
  check(
    "dimensions: origin model",
    problems.length ? "fail" : "ok",
    problems.join("; ") || `${model}, ${originDimensions}-d (TEI serves the same)`,
  );

  const ingress = find("Ingress", "origin");
  const ingressHosts: string[] = (ingress?.spec.rules ?? []).map((r: Section) => r.host);
  const placeholders = ingressHosts.filter(isPlaceholderHost);
  const unrouted = origins.map(hostOf).filter((h): h is string => !!h && !ingressHosts.includes(h));
  check(
    "origin: Ingress host",
    placeholders.length ? "fail" : unrouted.length ? "warn" : "ok",
    placeholders.length
      ? `placeholder host(s) ${placeholders.join(", ")} in the overlay's Ingress`
      : unrouted.length
        ? `ORIGIN_URLS host(s) ${unrouted.join(", ")} not served by this overlay (another cluster?)`
        : ingressHosts.join(", "),
  );
  const image: string | undefined = origin?.spec.template.spec.containers[0]?.image;
  check(
    "origin: image pinned",
    image && !/:latest$/.test(image) && image.includes(":") ? "ok" : "fail",
    image ? image : "no origin Deployment",
  );
  return model;
}

interface Resolved {
  d1?: Section;
  vectorize?: Section;
  dimensions: number;
  origins: string[];
  originModel?: string;
  vars: Record<string, string>;
  upstash?: string;
}

async function onlineChecks(
  options: DoctorOptions & { environment: Record<string, string | undefined>; configPath: string },
  _section: Section,
  { d1, vectorize, dimensions, origins, originModel, vars, upstash }: Resolved,
  check: (name: string, status: CheckStatus, detail: string) => void,
) {
  const { env, environment } = options;
  const cloudflare = !options.offline && Boolean(environment.CLOUDFLARE_API_TOKEN);
  const noCloudflare = options.offline ? "not reached: offline (--offline)" : "not reached: no credentials (CLOUDFLARE_API_TOKEN unset)";
  const run = options.runWrangler ?? ((args: string[]) => wrangler([...args, "--config", options.configPath]));

  // Secrets
  const required = [...REQUIRED_SECRETS, ...(upstash ? ["UPSTASH_REDIS_REST_TOKEN"] : [])];
  if (!cloudflare)
    check("cloudflare: secrets set", "skip", `${noCloudflare}; would run \`wrangler secret list --env ${env}\` for ${required.join(", ")}`);
  else
    await attempt(check, "cloudflare: secrets set", async () => {
      const listed = JSON.parse(jsonPart(await run(["secret", "list", "--env", env, "--format", "json"]))) as Array<{ name: string }>;
      const names = listed.map((s) => s.name);
      const missing = required.filter((name) => !names.includes(name));
      const optional = names.includes("METRICS_SCRAPE_TOKEN") ? "" : " (METRICS_SCRAPE_TOKEN unset: /metrics is closed)";
      return missing.length
        ? ["fail", `missing: ${missing.join(", ")} — \`wrangler secret put NAME --env ${env}\``]
        : ["ok", `${required.join(", ")}${optional}`];
    });

  // Vectorize
  const indexName = vectorize?.index_name;
  if (!cloudflare || !indexName)
    check(
      "cloudflare: Vectorize index",
      "skip",
      indexName ? `${noCloudflare}; would run \`wrangler vectorize get ${indexName}\`` : "no index configured",
    );
  else
    await attempt(check, "cloudflare: Vectorize index", async () => {
      const info = JSON.parse(jsonPart(await run(["vectorize", "get", indexName, "--json", "--env", env]))) as Section;
      const config = info.config ?? {};
      const metric = vars.VECTOR_METRIC ?? "cosine";
      const problems: string[] = [];
      if (config.dimensions !== dimensions) problems.push(`${config.dimensions} dimensions, EMBEDDING_DIMENSIONS is ${dimensions}`);
      if (config.metric !== metric) problems.push(`metric ${config.metric}, VECTOR_METRIC is ${metric}`);
      const indexes = JSON.parse(jsonPart(await run(["vectorize", "list-metadata-index", indexName, "--json", "--env", env]))) as Section[];
      const have = indexes.map((i) => `${i.propertyName}:${i.indexType}`.toLowerCase());
      const wanted = (vars.VECTORIZE_METADATA_INDEXES?.split(",").map((s) => s.trim()) ?? DEFAULT_METADATA_INDEXES).filter(Boolean);
      const missing = wanted.filter((w) => !have.includes(w.toLowerCase()));
      if (missing.length)
        problems.push(
          `metadata index(es) missing: ${missing.join(", ")} (\`wrangler vectorize create-metadata-index ${indexName} --property-name … --type …\`)`,
        );
      return problems.length
        ? ["fail", problems.join("; ")]
        : ["ok", `${indexName}: ${config.dimensions}-d ${config.metric}, metadata ${wanted.join(", ")}`];
    });

  // D1 migrations
  if (!cloudflare || !d1)
    check(
      "cloudflare: D1 migrations applied",
      "skip",
      `${noCloudflare}; would run \`wrangler d1 migrations list DB --remote --env ${env}\``,
    );
  else
    await attempt(check, "cloudflare: D1 migrations applied", async () => {
      const output = await run(["d1", "migrations", "list", "DB", "--remote", "--env", env]);
      if (/no migrations to apply/i.test(output)) return ["ok", `${d1.database_name}: up to date`];
      const pending = [...output.matchAll(/(\d{4}_[\w-]+\.sql)/g)].map((m) => m[1]);
      return [
        "fail",
        `pending: ${pending.join(", ") || "see wrangler d1 migrations list"} — \`wrangler d1 migrations apply DB --remote --env ${env}\``,
      ];
    });

  // Origin readiness
  const secret = environment.ORIGIN_JWT_SECRET;
  const fetcher = options.fetch ?? fetch;
  for (const url of origins) {
    const name = `origin: ${hostOf(url) ?? url} /v1/readyz`;
    const host = hostOf(url);
    if (!host || isPlaceholderHost(host)) {
      check(name, "skip", "not reached: a placeholder or invalid URL (see vars: ORIGIN_URLS)");
      continue;
    }
    if (options.offline || !secret) {
      check(
        name,
        "skip",
        options.offline ? "not reached: offline (--offline)" : "not reached: no credentials (ORIGIN_JWT_SECRET unset in this shell)",
      );
      continue;
    }
    await attempt(check, name, async () => {
      // Bound to this route and short-lived, as the origin requires (src/origin/origin-token.ts).
      const token = await mintOriginToken(secret, "/v1/readyz");
      const response = await fetcher(new URL("/v1/readyz", url), {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5_000),
      });
      const body = (await response.json().catch(() => ({}))) as Section;
      if (response.status === 401 || response.status === 403)
        return ["fail", `${response.status}: the origin refuses this ORIGIN_JWT_SECRET`];
      if (!response.ok) return ["fail", `${response.status} ${body.status ?? ""}`.trim()];
      const embeddings = body.checks?.embeddings ?? {};
      const problems: string[] = [];
      if (embeddings.model && originModel && embeddings.model !== originModel)
        problems.push(`serves ${embeddings.model}, the overlay says ${originModel}`);
      if (typeof embeddings.dimensions === "number" && embeddings.dimensions !== dimensions)
        problems.push(`embeds ${embeddings.dimensions}-d, EMBEDDING_DIMENSIONS is ${dimensions}`);
      return problems.length
        ? ["fail", problems.join("; ")]
        : ["ok", `${body.status ?? "ready"}${embeddings.model ? ` (${embeddings.model})` : ""}`];
    });
  }
}

/** wrangler prints banners before its JSON; take from the first [ or {. */
function jsonPart(output: string): string {
  const start = output.search(/^[[{]/m);
  return start < 0 ? output : output.slice(start);
}

async function attempt(
  check: (name: string, status: CheckStatus, detail: string) => void,
  name: string,
  body: () => Promise<[CheckStatus, string]>,
) {
  try {
    const [status, detail] = await body();
    check(name, status, detail);
  } catch (error) {
    check(name, "fail", `could not check: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  }
}

const MARK: Record<CheckStatus, string> = { ok: "ok  ", warn: "warn", fail: "FAIL", skip: "skip" };

export function formatResults(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = results.map((r) => `${MARK[r.status]}  ${r.name.padEnd(width)}  ${r.detail}`);
  const count = (status: CheckStatus) => results.filter((r) => r.status === status).length;
  lines.push(
    `${count("ok")} ok, ${count("warn")} warnings, ${count("fail")} failed, ${count("skip")} not checked (offline or no credentials)`,
  );
  return lines.join("\n");
}

type Values = Record<string, string | boolean | undefined>;

export async function doctorCommand(values: Values): Promise<void> {
  const env = values.env;
  if (env !== "staging" && env !== "production") throw new UsageError("doctor needs --env staging or --env production");
  const results = await runDoctor({
    env,
    offline: values.offline === true,
    configPath: typeof values.config === "string" ? values.config : undefined,
  });
  console.log(formatResults(results));
  const failed = results.some((r) => r.status === "fail");
  const skipped = results.some((r) => r.status === "skip");
  if (failed) process.exitCode = 1;
  else if (skipped && values["require-online"] === true) {
    console.error("edge-rag doctor: --require-online, and some checks could not run");
    process.exitCode = 2;
  }
}
