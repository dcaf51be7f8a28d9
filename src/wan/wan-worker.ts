import type { Bindings } from "../bindings";
import { ApiError, problemResponse } from "../errors";
import { delayBindings, delayFetch } from "./delayed-bindings";
import { RoundTripCounter, remoteOf, runWithWan, serverTiming, type WanContext } from "./round-trips";
import { parseWanSettings, WanConfigError, type WanDependency, type WanSettings } from "./wan-profiles";

/**
 * The local entry's worker under a WAN profile (src/wan/wan-profiles.ts): when the bindings set
 * WAN_PROFILE (the stack launcher does, for `--wan`), every request, queue batch and cron run sees
 * its remote bindings and its fetches to Upstash and the origins at the profile's distance, and each
 * response carries a `Server-Timing` header with the cross-region round trips it waited on
 * (round-trips.ts defines the count). Without WAN_PROFILE the handler runs untouched. An invalid WAN
 * variable fails every request with CONFIG_INVALID, naming the variable in the log.
 */
export function withWan<H extends ExportedHandler<Bindings>>(handler: H): H {
  const settings = new WeakMap<object, WanSettings | null>();
  const delayedEnvs = new WeakMap<object, Bindings>();
  const settingsOf = (env: Bindings) => {
    if (!settings.has(env)) settings.set(env, parseWanSettings(env as unknown as Record<string, unknown>));
    return settings.get(env) ?? null;
  };
  const contextOf = (env: Bindings, wan: WanSettings): [WanContext, Bindings] => {
    let delayed = delayedEnvs.get(env);
    if (!delayed) {
      // Services are built once per env object: the delayed one must be the same object every time.
      delayed = delayBindings(env);
      delayedEnvs.set(env, delayed);
      patchGlobalFetch();
    }
    return [{ settings: wan, counter: new RoundTripCounter(), remotes: remotesOf(env) }, delayed];
  };

  return {
    ...handler,
    async fetch(request, env, ctx) {
      let wan: WanSettings | null;
      try {
        wan = settingsOf(env);
      } catch (error) {
        if (!(error instanceof WanConfigError)) throw error;
        console.error(JSON.stringify({ level: "error", msg: "configuration invalid", issues: error.issues }));
        return problemResponse(
          new ApiError("CONFIG_INVALID", "the service is misconfigured; its operators have been told"),
          crypto.randomUUID(),
        );
      }
      if (!wan) return handler.fetch!(request, env, ctx);
      const [context, delayed] = contextOf(env, wan);
      const response = await runWithWan(context, () => handler.fetch!(request, delayed, ctx));
      if (response.webSocket) return response;
      // As of the headers: a streamed answer's count is what it waited on before its first byte.
      const timed = new Response(response.body, response);
      timed.headers.append("server-timing", serverTiming(wan.profile, context.counter));
      return timed;
    },
    async queue(batch, env, ctx) {
      const wan = settingsOf(env);
      if (!wan) return handler.queue!(batch, env, ctx);
      const [context, delayed] = contextOf(env, wan);
      return runWithWan(context, () => handler.queue!(batch, delayed, ctx));
    },
    async scheduled(controller, env, ctx) {
      const wan = settingsOf(env);
      if (!wan) return handler.scheduled!(controller, env, ctx);
      const [context, delayed] = contextOf(env, wan);
      return runWithWan(context, () => handler.scheduled!(controller, delayed, ctx));
    },
  } as H;
}

/** The origins of the remote services the worker fetches: the Upstash REST URL and each origin. */
function remotesOf(env: Bindings): Map<string, WanDependency> {
  const remotes = new Map<string, WanDependency>();
  const add = (url: string | undefined, dependency: WanDependency) => {
    if (!url) return;
    try {
      remotes.set(new URL(url.trim()).origin, dependency);
    } catch {
      // An invalid URL is the worker configuration's to report.
    }
  };
  for (const url of (env.ORIGIN_URLS ?? "").split(",")) add(url, "ORIGIN");
  add(env.UPSTASH_REDIS_REST_URL, "UPSTASH");
  return remotes;
}

let fetchPatched = false;
/**
 * Upstash's client and the origin client call the global fetch; the delay goes there, once per
 * isolate and only once a WAN profile is in use. Outside a WAN request it calls through unchanged.
 */
function patchGlobalFetch() {
  if (fetchPatched) return;
  fetchPatched = true;
  globalThis.fetch = delayFetch(globalThis.fetch.bind(globalThis), remoteOf);
}
