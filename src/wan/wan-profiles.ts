import { z } from "@hono/zod-openapi";

/**
 * WAN profiles: how far each remote dependency sits from the colo that runs the worker, as a round
 * trip in milliseconds. The local stack runs everything on one machine; a profile puts each port
 * back at a realistic distance (`npm start -- --wan far`), in the local entry only (src/local.ts).
 *
 * `far` is a user whose colo is ~150 ms round trip from the primary region, where Upstash, the
 * origin, the D1 primary, the tenant's data, the vector index and the queue live. What stays in
 * the colo: D1 read replicas (reached only through the Sessions API; without it every query goes
 * to the primary) and KV reads of a key this colo has read within its cache TTL (KV stores centrally
 * and caches in the colo after an access; a first read goes to central storage).
 */
export const WAN_DEPENDENCIES = [
  "UPSTASH",
  "ORIGIN",
  "D1_PRIMARY",
  "D1_REPLICA",
  "TENANT_DATA",
  "VECTORIZE",
  "KV_COLD",
  "KV_HOT",
  "QUEUE",
  "BACKEND",
] as const;
export type WanDependency = (typeof WAN_DEPENDENCIES)[number];

export type RoundTrips = Record<WanDependency, number>;

const FAR_RTT_MS = 150;

export const WAN_PROFILES = {
  /** Everything in the colo: no delay anywhere (today's local stack). */
  near: { UPSTASH: 0, ORIGIN: 0, D1_PRIMARY: 0, D1_REPLICA: 0, TENANT_DATA: 0, VECTORIZE: 0, KV_COLD: 0, KV_HOT: 0, QUEUE: 0, BACKEND: 0 },
  far: {
    UPSTASH: FAR_RTT_MS,
    ORIGIN: FAR_RTT_MS,
    D1_PRIMARY: FAR_RTT_MS,
    D1_REPLICA: 0,
    TENANT_DATA: FAR_RTT_MS,
    VECTORIZE: FAR_RTT_MS,
    KV_COLD: FAR_RTT_MS,
    KV_HOT: 0,
    QUEUE: FAR_RTT_MS,
    BACKEND: FAR_RTT_MS,
  },
} as const satisfies Record<string, RoundTrips>;
export type WanProfileName = keyof typeof WAN_PROFILES;
export const WAN_PROFILE_NAMES = Object.keys(WAN_PROFILES) as WanProfileName[];

/** The variable that overrides one dependency's round trip, e.g. WAN_ORIGIN_RTT_MS. */
export const wanVariable = (dependency: WanDependency) => `WAN_${dependency}_RTT_MS` as const;

export interface WanSettings {
  profile: WanProfileName;
  rttMs: RoundTrips;
}

export class WanConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid WAN configuration: ${issues.join("; ")}`);
  }
}

let schema: ReturnType<typeof buildSchema> | undefined;
function buildSchema() {
  const rtt = z.coerce.number().int().min(0).max(10_000).optional();
  return z.object({
    WAN_PROFILE: z.enum(WAN_PROFILE_NAMES as [WanProfileName, ...WanProfileName[]]).optional(),
    ...Object.fromEntries(WAN_DEPENDENCIES.map((dependency) => [wanVariable(dependency), rtt])),
  });
}

/**
 * The WAN settings in these variables (the worker's bindings, or the launcher's environment):
 * null when WAN_PROFILE is unset (no delay layer at all). An override without a profile, an unknown
 * profile or a round trip that is not an integer from 0 to 10,000 throws WanConfigError naming the
 * variable.
 */
export function parseWanSettings(variables: Record<string, unknown>): WanSettings | null {
  schema ??= buildSchema();
  const raw = Object.fromEntries(
    Object.entries(variables).filter(([name, value]) => name.startsWith("WAN_") && value !== "" && value !== undefined),
  );
  const result = schema.safeParse(raw);
  if (!result.success) throw new WanConfigError(result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  const values = result.data as Record<string, number | undefined> & { WAN_PROFILE?: WanProfileName };
  const overridden = WAN_DEPENDENCIES.filter((dependency) => values[wanVariable(dependency)] !== undefined);
  if (!values.WAN_PROFILE) {
    if (overridden.length > 0) throw new WanConfigError(overridden.map((dependency) => `${wanVariable(dependency)}: needs WAN_PROFILE`));
    return null;
  }
  const rttMs = { ...WAN_PROFILES[values.WAN_PROFILE] } as RoundTrips;
  for (const dependency of overridden) rttMs[dependency] = values[wanVariable(dependency)]!;
  return { profile: values.WAN_PROFILE, rttMs };
}
