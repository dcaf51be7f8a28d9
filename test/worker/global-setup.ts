import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startRedisServer } from "../../tools/lib/redis-server";
import { startBridgeProcess } from "../../tools/stack/bridge";
import { startOrigin } from "../../tools/stack/origin";
import { ROOT } from "../../tools/stack/paths";
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
  const quiet = (name: string) => (line: string) => {
    if (process.env.TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
  };

  // Until a component exists in the tree, point at a closed port: tests that need it fail loudly.
  let originUrl = "http://127.0.0.1:9";
  if (existsSync(join(ROOT, "container/src/server.ts")) && existsSync(join(ROOT, "container/node_modules"))) {
    const origin = await startOrigin({ port: 0, jwtSecret: TEST_SECRETS.ORIGIN_JWT_SECRET, log: quiet("origin") });
    stops.push(() => origin.process.stop());
    originUrl = origin.url;
  }

  let upstashUrl: string;
  const upstashToken = randomBytes(24).toString("base64url");
  const redis = await startRedisServer({ port: 0 });
  stops.push(() => redis.stop());
  const bridge = await startBridgeProcess({ redisUrl: redis.url, token: upstashToken, log: quiet("bridge") });
  stops.push(() => bridge.process.stop());
  upstashUrl = bridge.url;

  const idp = await startIdentityProvider();
  stops.push(() => idp.close());

  project.provide("originUrl", originUrl);
  project.provide("idp", { jwksUrl: idp.jwksUrl, privateKeys: idp.privateKeys, strangerKey: idp.strangerKey });
  project.provide("upstashUrl", upstashUrl);
  project.provide("upstashToken", upstashToken);

  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}
