import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import localWorker from "../../src/local";
import { createLocalVectorize } from "../../src/vector/create-local-vectorize";
import { delayBindings } from "../../src/wan/delayed-bindings";
import { RoundTripCounter, runWithWan, type WanContext } from "../../src/wan/round-trips";
import { parseWanSettings } from "../../src/wan/wan-profiles";
import { createKey, uniqueTenant } from "./helpers";
import { CORPUS, indexFixture, QUESTIONS } from "./query-fixtures";

/**
 * The WAN delay layer on the real local bindings (D1, KV, the queue, the Durable Object vector
 * index) and through the local entry: which dependency each call reaches, how overlapping waits
 * count, and the Server-Timing header a request under a profile carries. Round trips are a few
 * milliseconds here (overrides), so the counts are what is tested, never the time.
 */

/** `far`, with every cross-region round trip shortened to 2 ms (D1 replicas and hot KV stay 0). */
const FAR_FAST = {
  WAN_PROFILE: "far",
  WAN_UPSTASH_RTT_MS: "2",
  WAN_ORIGIN_RTT_MS: "2",
  WAN_D1_PRIMARY_RTT_MS: "2",
  WAN_TENANT_DATA_RTT_MS: "2",
  WAN_VECTORIZE_RTT_MS: "2",
  WAN_KV_COLD_RTT_MS: "2",
  WAN_QUEUE_RTT_MS: "2",
};

function wanContext(): WanContext {
  return { settings: parseWanSettings(FAR_FAST)!, counter: new RoundTripCounter(), remotes: new Map() };
}

/** Runs `work` on delayed bindings and returns the counter it left. */
async function counted(work: (bindings: typeof env) => Promise<unknown>): Promise<RoundTripCounter> {
  const context = wanContext();
  const bindings = delayBindings(env);
  await runWithWan(context, () => work(bindings));
  return context.counter;
}

describe("WAN delay layer on the local bindings (happy)", () => {
  it("counts a D1 query without a session as one round trip to the primary, and two in sequence as two", async () => {
    const counter = await counted(async (bindings) => {
      await bindings.DB.prepare("SELECT 1 AS one").first();
      await bindings.DB.prepare("SELECT ?1 AS two").bind(2).first();
    });
    expect(counter.roundTrips).toBe(2);
    expect(counter.calls).toEqual({ D1_PRIMARY: 2 });
  });

  it("counts overlapping waits once: D1, cold KV and the vector index's object in parallel are one round trip", async () => {
    const counter = await counted(async (bindings) => {
      const vectors = createLocalVectorize(bindings.VECTOR_INDEX_DO!, { indexName: "wan-test", dimensions: 3, metric: "cosine" });
      await Promise.all([bindings.DB.prepare("SELECT 1").all(), bindings.KV.get(`wan-cold-${crypto.randomUUID()}`), vectors.describe()]);
    });
    expect(counter.roundTrips).toBe(1);
    expect(counter.calls).toEqual({ D1_PRIMARY: 1, KV_COLD: 1, VECTORIZE: 1 });
  });

  it("reads a D1 session from the replica (in the colo under far) and writes to the primary; a batch is one round trip", async () => {
    const counter = await counted(async (bindings) => {
      const session = bindings.DB.withSession("first-unconstrained");
      await session.prepare("SELECT 1").first();
      await session.batch([session.prepare("SELECT 1"), session.prepare("SELECT 2")]);
      await bindings.DB.batch([bindings.DB.prepare("SELECT 1"), bindings.DB.prepare("SELECT 2")]);
    });
    expect(counter.calls).toEqual({ D1_PRIMARY: 1 });
    expect(counter.roundTrips).toBe(1);
  });

  it("reads a KV key cold the first time and hot (in the colo) after; writes and queue sends cross", async () => {
    const key = `wan-${crypto.randomUUID()}`;
    const bindings = delayBindings(env);
    const context = wanContext();
    await runWithWan(context, async () => {
      await bindings.KV.put(key, "v");
      expect(await bindings.KV.get(key)).toBe("v");
      const other = `wan-other-${crypto.randomUUID()}`;
      await bindings.KV.get(other);
      await bindings.KV.get(other);
      // A dead letter for a job that does not exist: the consumer marks nothing.
      await bindings.INGEST_DLQ.send({ v: 1, tenant: uniqueTenant("wan-dlq"), job_id: "none", document_ids: ["none"] });
    });
    expect(context.counter.calls).toEqual({ KV_COLD: 2, QUEUE: 1 });
    expect(context.counter.roundTrips).toBe(3);
  });

  it("adds no delay and counts nothing outside a WAN context (module load, plain tests)", async () => {
    const bindings = delayBindings(env);
    expect(await bindings.DB.prepare("SELECT 7 AS n").first("n")).toBe(7);
  });
});

describe("Server-Timing through the local entry (happy)", () => {
  const tenant = uniqueTenant("wan");
  let key = "";
  beforeAll(async () => {
    ({ key } = await createKey(tenant, ["reader"]));
    await indexFixture(tenant, CORPUS);
  }, 120_000);

  const callLocal = async (bindings: object, path: string, init: RequestInit = {}) => {
    const ctx = createExecutionContext();
    const response = await localWorker.fetch!(
      new Request(`http://edge-rag.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
      bindings as typeof env,
      ctx,
    );
    await response.text();
    await waitOnExecutionContext(ctx);
    return response;
  };
  const timing = (response: Response) => {
    const header = response.headers.get("server-timing") ?? "";
    const desc = (name: string) => new RegExp(`(?:^|, )${name};desc="([^"]*)"`).exec(header)?.[1];
    return { header, profile: desc("wan"), roundTrips: Number(desc("wan-round-trips")), calls: (name: string) => Number(desc(name) ?? 0) };
  };

  it("says a GET /health waited on no cross-region round trip", async () => {
    const response = await callLocal({ ...env, ...FAR_FAST }, "/health");
    expect(response.status).toBe(200);
    expect(timing(response)).toMatchObject({ profile: "far", roundTrips: 0 });
  });

  it("counts a query's round trips: a hit none once the isolate caches are warm (the rate limiter counts at Upstash after the response), a miss one", async () => {
    const bindings = { ...env, ...FAR_FAST };
    const ask = () =>
      callLocal(bindings, "/v1/query", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ query: QUESTIONS.penicillin.query, top_k: 3 }),
      });
    const miss = await ask();
    expect(miss.status).toBe(200);
    const missTiming = timing(miss);
    // A miss crosses to the query backend once; the origin and the vector index are its calls, in its region.
    expect(missTiming.calls("wan-backend")).toBe(1);
    for (const name of ["wan-origin", "wan-vectorize"]) expect(missTiming.calls(name), name).toBe(0);

    const hit = await ask();
    expect(hit.headers.get("cache-status")).toMatch(/; hit;/);
    const hitTiming = timing(hit);
    expect(hitTiming.header).not.toMatch(/wan-(origin|vectorize|tenant-data|d1-primary|upstash)/);
    expect(hitTiming.roundTrips).toBe(0);

    // Another question in the warm isolate: past the colo's cache tiers, a miss waits on the backend
    // alone, which reads the answer cache's regional tiers (KV, Redis) next to them: one round trip.
    const other = await callLocal(bindings, "/v1/query", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ query: QUESTIONS.rosetta.query, top_k: 3 }),
    });
    expect(other.headers.get("cache-status")).toMatch(/fwd=miss/);
    expect(timing(other).roundTrips, timing(other).header).toBe(1);
    expect(timing(other).calls("wan-backend")).toBe(1);
    expect(timing(other).header).not.toMatch(/wan-kv-cold;/);
  });

  it("keeps a hit in the colo while the isolate caches age: past half their time they are read again after the response", async () => {
    // Key, limits and tenant state each trusted for 10 s; a hit every 5.5 s finds each past half
    // and well within its time (a busy machine's slow request included). Without the re-reads the
    // second hit would find them expired.
    const bindings = {
      ...env,
      ...FAR_FAST,
      API_KEY_CACHE_TTL_SECONDS: "10",
      TENANT_LIMITS_CACHE_SECONDS: "10",
      INDEX_VERSION_CACHE_SECONDS: "10",
    };
    const ask = () =>
      callLocal(bindings, "/v1/query", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ query: QUESTIONS.kilimanjaro.query, top_k: 3 }),
      });
    await ask();
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5_500));
      const hit = await ask();
      expect(hit.headers.get("cache-status")).toMatch(/; hit;/);
      expect(timing(hit).roundTrips, `hit ${i}: ${timing(hit).header}`).toBe(0);
    }
  });

  it("sends no Server-Timing without a WAN profile", async () => {
    const response = await callLocal(env, "/health");
    expect(response.headers.get("server-timing")).toBeNull();
  });
});

describe("WAN configuration (error)", () => {
  it("fails a request with CONFIG_INVALID for an unknown profile or a bad round trip", async () => {
    for (const bad of [{ WAN_PROFILE: "moon" }, { WAN_PROFILE: "far", WAN_ORIGIN_RTT_MS: "-1" }, { WAN_ORIGIN_RTT_MS: "10" }]) {
      const ctx = createExecutionContext();
      const response = await localWorker.fetch!(
        new Request("http://edge-rag.test/health") as Request<unknown, IncomingRequestCfProperties>,
        { ...env, ...bad } as typeof env,
        ctx,
      );
      expect(response.status, JSON.stringify(bad)).toBe(500);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(((await response.json()) as { code: string }).code).toBe("CONFIG_INVALID");
    }
  });
});
