import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { startRedisServer } from "../../tools/lib/redis-server";
import { startBridgeProcess } from "../../tools/stack/bridge";
import { startOrigin } from "../../tools/stack/origin";
import { startIdentityProvider } from "./identity-provider";
import { TEST_SECRETS } from "./secrets";

declare module "vitest" {
  interface ProvidedContext {
    originUrl: string;
    upstashUrl: string;
    upstashToken: string;
    idp: { jwksUrl: string; privateKeys: Record<"RS256" | "ES256" | "EdDSA", import("jose").JWK>; strangerKey: import("jose").JWK };
  }
}

/**
 * Starts the real dependencies of the worker tests on free ports: the origin (with its real
 * default models), redis-server and the Upstash REST bridge in front of it.
 */
export default async function setup(project: TestProject) {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  };
  const quiet = (name: string) => (line: string) => {
    if (process.env.TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
  };
  const upstashToken = randomBytes(24).toString("base64url");

  // Independent, so started together (the origin's model load dominates); allSettled so that a
  // failure is only handled once everything that did start can be stopped.
  const [origin, bridge, idp] = await Promise.allSettled([
    startOrigin({ port: 0, jwtSecret: TEST_SECRETS.ORIGIN_JWT_SECRET, log: quiet("origin") }).then((started) => {
      stops.push(() => started.process.stop());
      return started;
    }),
    startRedisServer({ port: 0 }).then(async (redis) => {
      stops.push(() => redis.stop());
      const started = await startBridgeProcess({ redisUrl: redis.url, token: upstashToken, log: quiet("bridge") });
      stops.push(() => started.process.stop());
      return started;
    }),
    startIdentityProvider().then((started) => {
      stops.push(() => started.close());
      return started;
    }),
  ]);
  if (origin.status === "rejected" || bridge.status === "rejected" || idp.status === "rejected") {
    await stopAll();
    throw [origin, bridge, idp].find((result) => result.status === "rejected")!.reason;
  }
  project.provide("originUrl", origin.value.url);
  project.provide("upstashUrl", bridge.value.url);
  project.provide("upstashToken", upstashToken);
  project.provide("idp", { jwksUrl: idp.value.jwksUrl, privateKeys: idp.value.privateKeys, strangerKey: idp.value.strangerKey });
  return stopAll;
}
