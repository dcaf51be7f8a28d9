import { parseWanSettings, WAN_DEPENDENCIES, type WanSettings, wanVariable } from "../../src/wan/wan-profiles";

/**
 * `--wan <profile>` for the local stack (`npm start`, `npm run bench`): the worker variables that
 * put the worker's remote ports at the profile's distance, with any WAN_<DEPENDENCY>_RTT_MS of the
 * caller's environment as overrides. Validated here with the worker's own schema, so a bad name
 * or value stops the launch (WanConfigError, naming the variable) instead of failing every request.
 */
export function wanWorkerVars(
  profile: string,
  environment: Record<string, string | undefined>,
): { vars: Record<string, string>; settings: WanSettings } {
  const vars: Record<string, string> = { WAN_PROFILE: profile };
  for (const dependency of WAN_DEPENDENCIES) {
    const value = environment[wanVariable(dependency)];
    if (value !== undefined && value !== "") vars[wanVariable(dependency)] = value;
  }
  return { vars, settings: parseWanSettings(vars)! };
}

/** One line for a person: the profile and each dependency's round trip, e.g. `far (UPSTASH 150 ms, …)`. */
export const describeWan = (settings: WanSettings) =>
  `${settings.profile} (${WAN_DEPENDENCIES.map((dependency) => `${dependency} ${settings.rttMs[dependency]} ms`).join(", ")})`;
