import { describe, expect, it } from "vitest";
import { RoundTripCounter, serverTiming } from "../../src/wan/round-trips";
import { parseWanSettings, WAN_PROFILES, WanConfigError } from "../../src/wan/wan-profiles";
import { benchOptions } from "../../tools/bench/command";
import { parseServerTiming, renderWan, wanRow } from "../../tools/bench/wan";
import { UsageError } from "../../tools/cli/usage-error";
import { wanWorkerVars } from "../../tools/stack/wan";

/**
 * The WAN layer's arithmetic on inputs whose answers are known: profiles and their overrides, the
 * round-trip counter (overlapping waits count once) on a hand-driven clock, the Server-Timing
 * header the worker writes and the bench reads back, and the bench's --wan checks. The delays on
 * the real bindings are in test/worker/wan.test.ts.
 */
describe("WAN profiles (happy)", () => {
  it("has near at zero everywhere and far at 150 ms except D1 replicas and hot KV reads", () => {
    expect(Object.values(WAN_PROFILES.near).every((ms) => ms === 0)).toBe(true);
    expect(parseWanSettings({ WAN_PROFILE: "far" })).toEqual({
      profile: "far",
      rttMs: {
        UPSTASH: 150,
        ORIGIN: 150,
        D1_PRIMARY: 150,
        D1_REPLICA: 0,
        TENANT_DATA: 150,
        VECTORIZE: 150,
        KV_COLD: 150,
        KV_HOT: 0,
        QUEUE: 150,
        BACKEND: 150,
      },
    });
  });

  it("overrides one dependency with WAN_<DEPENDENCY>_RTT_MS and is off without WAN_PROFILE", () => {
    expect(parseWanSettings({ WAN_PROFILE: "near", WAN_ORIGIN_RTT_MS: "40" })?.rttMs).toMatchObject({ ORIGIN: 40, UPSTASH: 0 });
    expect(parseWanSettings({ ENVIRONMENT: "local" })).toBeNull();
  });

  it("gives the launcher the profile and the overrides of its environment, nothing else", () => {
    const { vars, settings } = wanWorkerVars("far", { WAN_KV_HOT_RTT_MS: "3", PATH: "/bin", WAN_ORIGIN_RTT_MS: "" });
    expect(vars).toEqual({ WAN_PROFILE: "far", WAN_KV_HOT_RTT_MS: "3" });
    expect(settings.rttMs).toMatchObject({ KV_HOT: 3, ORIGIN: 150 });
  });
});

describe("WAN profiles (error)", () => {
  it("names the variable of an unknown profile, a bad round trip, or an override without a profile", () => {
    const issues = (variables: Record<string, string>) => {
      try {
        parseWanSettings(variables);
      } catch (error) {
        if (error instanceof WanConfigError) return error.issues.join("; ");
      }
      return "accepted";
    };
    expect(issues({ WAN_PROFILE: "mars" })).toMatch(/^WAN_PROFILE:/);
    expect(issues({ WAN_PROFILE: "far", WAN_QUEUE_RTT_MS: "1.5" })).toMatch(/^WAN_QUEUE_RTT_MS:/);
    expect(issues({ WAN_PROFILE: "far", WAN_QUEUE_RTT_MS: "10001" })).toMatch(/^WAN_QUEUE_RTT_MS:/);
    expect(issues({ WAN_UPSTASH_RTT_MS: "5" })).toBe("WAN_UPSTASH_RTT_MS: needs WAN_PROFILE");
  });

  it("refuses --wan with an unknown profile, with --url, or --only wan without --wan", () => {
    expect(() => benchOptions({ wan: "moon" }, {})).toThrow(UsageError);
    expect(() => benchOptions({ wan: "far", url: "https://rag.example.com", key: "k" }, {})).toThrow(/not with --url/);
    expect(() => benchOptions({ only: "wan" }, {})).toThrow(/--only wan needs --wan/);
    expect(benchOptions({ wan: "far" }, {}).sections).toContain("wan");
    expect(benchOptions({}, {}).sections).not.toContain("wan");
  });
});

describe("round-trip counter (happy)", () => {
  it("counts sequential waits each, overlapping waits once, and every call per dependency", () => {
    let now = 0;
    const counter = new RoundTripCounter(() => now);
    // Sequential: D1, then the origin.
    let end = counter.begin("D1_PRIMARY");
    now += 150;
    end();
    end = counter.begin("ORIGIN");
    now += 160;
    end();
    // In parallel: vector search ∥ D1, the second beginning while the first is in flight.
    const vector = counter.begin("VECTORIZE");
    now += 10;
    const keyword = counter.begin("D1_PRIMARY");
    now += 150;
    vector();
    now += 5;
    keyword();
    keyword(); // a second end changes nothing
    expect(counter.roundTrips).toBe(3);
    expect(counter.calls).toEqual({ D1_PRIMARY: 2, ORIGIN: 1, VECTORIZE: 1 });
    expect(counter.waitedMs).toBe(150 + 160 + 165);
  });

  it("leaves out a wait still in flight: the response did not wait for it (waitUntil, a streamed body)", () => {
    let now = 0;
    const counter = new RoundTripCounter(() => now);
    const awaited = counter.begin("D1_PRIMARY");
    const background = counter.begin("UPSTASH");
    now += 150;
    awaited();
    expect(counter.roundTrips).toBe(1);
    expect(counter.calls).toEqual({ D1_PRIMARY: 1 });
    now += 10;
    background();
    expect(counter.roundTrips).toBe(1);
    expect(counter.calls).toEqual({ D1_PRIMARY: 1, UPSTASH: 1 });
    expect(counter.waitedMs).toBe(160);
  });

  it("writes a Server-Timing header the bench reads back", () => {
    let now = 0;
    const counter = new RoundTripCounter(() => now);
    const a = counter.begin("UPSTASH");
    const b = counter.begin("UPSTASH");
    now += 151.25;
    a();
    b();
    const header = serverTiming("far", counter);
    expect(header).toBe('wan;desc="far";dur=151.3, wan-round-trips;desc="1", wan-upstash;desc="2"');
    expect(parseServerTiming(header)).toEqual({ profile: "far", roundTrips: 1, calls: { upstash: 2 } });
    expect(parseServerTiming(null)).toBeNull();
    expect(parseServerTiming('cache;desc="hit"')).toBeNull();
  });
});

describe("bench WAN rows (happy)", () => {
  it("takes latency percentiles and the median and largest round-trip counts", () => {
    const run = { samples: [100, 200, 300, 400].map((ms, i) => ({ at: i, ms, status: 200 })), seconds: 1 };
    const counts = [1, 3, 2, 2].map((roundTrips) => ({ profile: "far", roundTrips, calls: { "d1-primary": roundTrips } }));
    const row = wanRow("cold miss", 1, run, counts);
    expect(row).toMatchObject({
      requests: 4,
      p50: 200,
      p95: 400,
      throughput: 4,
      roundTrips: { median: 2, max: 3 },
      calls: { "d1-primary": 2 },
    });
    expect(wanRow("GET /health", 16, run, []).roundTrips).toBeNull();
    const table = renderWan({ profile: "far", rttMs: WAN_PROFILES.far, rows: [row], hitVsHealth: 0.5 });
    expect(table).toContain("| far | cold miss | 1 | 4 | 200.0 | 400.0 | 4.0 | 2, 3 | d1-primary 2 | 200×4 |");
    expect(table).toContain("**0.50×**");
  });
});
