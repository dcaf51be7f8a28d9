import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { startFakeOpenAI } from "../../container/test/helpers/fake-openai.ts";
import { encryptedPdf, lyingDocx, makeDocx, makePdf } from "../../container/test/helpers/files.ts";
import { freePort } from "../../tools/lib/ports";
import { startRedisServer } from "../../tools/lib/redis-server";
import { startBridgeProcess } from "../../tools/stack/bridge";
import { startOrigin } from "../../tools/stack/origin";
import { startIdentityProvider } from "./identity-provider";
import { createControlledOrigin, startOriginControl } from "./origin-control";
import { TEST_SECRETS } from "./secrets";
import { startSlowLlm } from "./slow-llm";
import { PDF_FACT } from "./test-files";
import { startWebhookReceiver } from "./webhook-receiver";

declare module "vitest" {
  interface ProvidedContext {
    originUrl: string;
    upstashUrl: string;
    upstashToken: string;
    idp: { jwksUrl: string; privateKeys: Record<"RS256" | "ES256" | "EdDSA", import("jose").JWK>; strangerKey: import("jose").JWK };
    /**
     * A second real origin, for the origin-failover tests only (no other suite may use it: they
     * start, stop, pause and kill it), its generation backend a slow OpenAI-compatible chat
     * server; and the loopback server through which the tests control both (origin-control.ts).
     * It runs only once the failover suite has started it.
     */
    failover: { originUrl: string; controlUrl: string };
    /**
     * A real origin whose generation backend is an OpenAI-compatible model that obeys instructions
     * planted in a document (it answers with what follows `OBEY:` in its prompt, streamed or not),
     * as a compromised model would: the answer guard's end-to-end tests (planted-instructions.test.ts).
     */
    obedientOriginUrl: string;
    /**
     * Files the upload tests send, made here by the origin's test helpers (pdf-lib, docx: Node
     * packages of container/, which workerd cannot load), base64: `pdf` three pages with its
     * fact on page 3, `encryptedPdf` one that needs a password, `docx` a Word file with headings,
     * `lyingDocx` one whose document inflates past the size it declares (a bomb that lies).
     */
    testFiles: { pdf: string; encryptedPdf: string; docx: string; lyingDocx: string };
    /** The loopback webhook receiver (webhook-receiver.ts): `/hooks/<inbox>` receives, `/control/<inbox>` programs and reads. */
    webhookReceiverUrl: string;
  }
}

/**
 * Starts the real dependencies of the worker tests on free ports: the origin (with its real
 * default models), redis-server and the Upstash REST bridge in front of it; and for the failover
 * tests the server that starts, stops, pauses and kills a second origin (which the failover suite
 * starts when it begins) and sets the pace of the slow chat server behind it.
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
  const [origin, bridge, idp, failover, obedient, receiver] = await Promise.allSettled([
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
    // Only the servers: the failover suite starts its origin itself (beforeAll), so that its model
    // load costs the global setup nothing.
    Promise.all([startSlowLlm(), freePort()]).then(async ([llm, port]) => {
      stops.push(() => llm.close());
      const second = createControlledOrigin({
        port,
        jwtSecret: TEST_SECRETS.ORIGIN_JWT_SECRET,
        env: {
          // One model thread: a query at a time is all it serves.
          EMBED_WORKERS: "1",
          GENERATION_BACKEND: "openai",
          GENERATION_URL: `${llm.url}/v1`,
          GENERATION_MODEL: llm.model,
          // Longer than any pause a test makes the chat server take before its first token.
          UPSTREAM_TIMEOUT_MS: "60000",
        },
        log: quiet("origin-2"),
      });
      stops.push(() => second.stop());
      const control = await startOriginControl(second, llm);
      stops.push(() => control.close());
      return { originUrl: second.url, controlUrl: control.url };
    }),
    // Its embeddings come from the same server (no model to load): its tests query by keyword.
    startFakeOpenAI().then(async (llm) => {
      stops.push(() => llm.close());
      llm.setMode("obedient");
      const started = await startOrigin({
        port: 0,
        jwtSecret: TEST_SECRETS.ORIGIN_JWT_SECRET,
        env: {
          GENERATION_BACKEND: "openai",
          GENERATION_URL: llm.url,
          GENERATION_MODEL: "obedient",
          EMBEDDINGS_BACKEND: "openai",
          EMBEDDINGS_URL: llm.url,
          EMBEDDINGS_MODEL: "fake",
        },
        log: quiet("origin-obedient"),
      });
      stops.push(() => started.process.stop());
      return started;
    }),
    startWebhookReceiver().then((started) => {
      stops.push(() => started.close());
      return started;
    }),
  ]);
  const started = [origin, bridge, idp, failover, obedient, receiver];
  if (
    origin.status === "rejected" ||
    bridge.status === "rejected" ||
    idp.status === "rejected" ||
    failover.status === "rejected" ||
    obedient.status === "rejected" ||
    receiver.status === "rejected"
  ) {
    await stopAll();
    throw started.find((result) => result.status === "rejected")!.reason;
  }
  project.provide("originUrl", origin.value.url);
  project.provide("upstashUrl", bridge.value.url);
  project.provide("upstashToken", upstashToken);
  project.provide("idp", { jwksUrl: idp.value.jwksUrl, privateKeys: idp.value.privateKeys, strangerKey: idp.value.strangerKey });
  project.provide("failover", failover.value);
  project.provide("obedientOriginUrl", obedient.value.url);
  project.provide("webhookReceiverUrl", receiver.value.url);
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
  project.provide("testFiles", {
    pdf: base64(
      await makePdf(["Plant report, page one: the site and its staff.", "Page two lists the machines.", PDF_FACT], "Plant Report"),
    ),
    encryptedPdf: base64(await encryptedPdf()),
    docx: base64(await makeDocx()),
    lyingDocx: base64(await lyingDocx(200 * 1024)),
  });
  return stopAll;
}
