import { createHash } from "node:crypto";
import { errors, type Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BridgeFixture, sleep, startBridgeFixture } from "./upstash-bridge-fixture";

// The unmodified @upstash/redis client against real redis-server through the bridge, in each of
// the modes the client can run in: auto-pipelined + base64 (its default, what the worker uses),
// one HTTP request per command, plain JSON responses, and without automatic deserialization.
let fx: BridgeFixture;
let clients: Record<string, Redis>;

beforeAll(async () => {
  // The whole client surface, beyond the commands the project's clients need (the default allow-list).
  fx = await startBridgeFixture({ allowCommands: "any" });
  clients = {
    "default (auto-pipelining, base64)": fx.client(),
    "one request per command": fx.client({ enableAutoPipelining: false }),
    "json responses (no base64)": fx.client({ enableAutoPipelining: false, responseEncoding: false }),
  };
});
afterAll(async () => {
  await fx?.stop();
});

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
const modes = () => Object.entries(clients);

describe.each(["default (auto-pipelining, base64)", "one request per command", "json responses (no base64)"])(
  "happy: @upstash/redis, %s",
  (mode) => {
    const redis = () => clients[mode]!;
    const key = (name: string) => `${mode}:${name}`;

    it("strings, counters and multi-key commands", async () => {
      expect(await redis().set(key("s"), "hello")).toBe("OK");
      expect(await redis().get(key("s"))).toBe("hello");
      expect(await redis().append(key("s"), " world")).toBe(11);
      expect(await redis().strlen(key("s"))).toBe(11);
      expect(await redis().set(key("s"), "other", { nx: true })).toBeNull();
      expect(await redis().get(key("missing"))).toBeNull();
      expect(await redis().incr(key("n"))).toBe(1);
      expect(await redis().incrby(key("n"), 41)).toBe(42);
      expect(await redis().decr(key("n"))).toBe(41);
      expect(await redis().incrbyfloat(key("f"), 1.25)).toBe(1.25);
      expect(await redis().mset({ [key("m1")]: "a", [key("m2")]: "b" })).toBe("OK");
      expect(await redis().mget(key("m1"), key("m2"), key("missing"))).toEqual(["a", "b", null]);
      expect(await redis().getdel(key("m1"))).toBe("a");
      expect(await redis().exists(key("m1"), key("m2"))).toBe(1);
      expect(await redis().del(key("m2"), key("missing"))).toBe(1);
    });

    it("numbers and JSON values round-trip through automatic (de)serialization", async () => {
      await redis().set(key("num"), 42);
      expect(await redis().get(key("num"))).toBe(42);
      await redis().set(key("float"), 3.5);
      expect(await redis().get(key("float"))).toBe(3.5);
      const doc = { id: 7, tags: ["a", "b"], nested: { ok: true, none: null }, text: "x/y%z" };
      await redis().set(key("json"), doc);
      expect(await redis().get(key("json"))).toEqual(doc);
      await redis().set(key("bool"), true);
      expect(await redis().get(key("bool"))).toBe(true);
    });

    it("hashes", async () => {
      expect(await redis().hset(key("h"), { name: "ada", visits: 1, profile: { lang: "en" } })).toBe(3);
      expect(await redis().hget(key("h"), "name")).toBe("ada");
      expect(await redis().hincrby(key("h"), "visits", 2)).toBe(3);
      expect(await redis().hgetall(key("h"))).toEqual({ name: "ada", visits: 3, profile: { lang: "en" } });
      expect(await redis().hdel(key("h"), "profile")).toBe(1);
      expect(await redis().hlen(key("h"))).toBe(2);
      expect(await redis().hgetall(key("nohash"))).toBeNull();
    });

    it("sets", async () => {
      expect(await redis().sadd(key("set"), "a", "b", "c")).toBe(3);
      expect(await redis().sadd(key("set"), "a")).toBe(0);
      expect((await redis().smembers(key("set"))).sort()).toEqual(["a", "b", "c"]);
      expect(await redis().sismember(key("set"), "b")).toBe(1);
      expect(await redis().srem(key("set"), "b")).toBe(1);
      expect(await redis().scard(key("set"))).toBe(2);
    });

    it("sorted sets, with scores as numbers", async () => {
      expect(
        await redis().zadd(key("z"), { score: 2, member: "two" }, { score: 1.5, member: "one-and-a-half" }, { score: 10, member: "ten" }),
      ).toBe(3);
      expect(await redis().zrange(key("z"), 0, -1)).toEqual(["one-and-a-half", "two", "ten"]);
      expect(await redis().zrange(key("z"), 0, 1, { withScores: true })).toEqual(["one-and-a-half", 1.5, "two", 2]);
      expect(await redis().zscore(key("z"), "ten")).toBe(10);
      expect(await redis().zincrby(key("z"), 0.25, "two")).toBe(2.25);
      expect(await redis().zrank(key("z"), "ten")).toBe(2);
      expect(await redis().zrange(key("z"), 0, 0, { rev: true })).toEqual(["ten"]);
      expect(await redis().zcard(key("z"))).toBe(3);
    });

    it("lists", async () => {
      expect(await redis().rpush(key("l"), "b", "c")).toBe(2);
      expect(await redis().lpush(key("l"), "a")).toBe(3);
      expect(await redis().lrange(key("l"), 0, -1)).toEqual(["a", "b", "c"]);
      expect(await redis().lpop(key("l"))).toBe("a");
      expect(await redis().llen(key("l"))).toBe(2);
      expect(await redis().lpop(key("empty"))).toBeNull();
    });

    it("expiry: EX/PX, TTL, PERSIST, and keys that actually expire", async () => {
      await redis().set(key("ttl"), "v", { ex: 100 });
      const ttl = await redis().ttl(key("ttl"));
      expect(ttl).toBeGreaterThan(95);
      expect(ttl).toBeLessThanOrEqual(100);
      expect(await redis().persist(key("ttl"))).toBe(1);
      expect(await redis().ttl(key("ttl"))).toBe(-1);
      expect(await redis().ttl(key("never-set"))).toBe(-2);
      await redis().set(key("short"), "v", { px: 150 });
      expect(await redis().get(key("short"))).toBe("v");
      await sleep(300);
      expect(await redis().get(key("short"))).toBeNull();
    });

    it("UTF-8 and non-BMP text survive keys and values unchanged", async () => {
      const samples = [
        "emoji 😀🎉",
        "clef 𝄞 and 𠜎",
        "日本語テキスト",
        "e\u0301 combining",
        "tab\tnew\nline",
        'quote " backslash \\',
        "OK",
        "T0s=",
        "",
      ];
      for (const [index, value] of samples.entries()) {
        await redis().set(key(`utf8-${index}-🔑`), value);
        expect(await redis().get(key(`utf8-${index}-🔑`))).toBe(value);
      }
      await redis().hset(key("utf8-hash"), { ключ: "значение 🚀" });
      expect(await redis().hgetall(key("utf8-hash"))).toEqual({ ключ: "значение 🚀" });
    });

    it("pipeline: results in order, and an error in one command does not stop the others", async () => {
      const results = await redis().pipeline().set(key("p"), "1").incr(key("p")).get(key("p")).exec();
      expect(results).toEqual(["OK", 2, 2]);

      await redis().set(key("p-text"), "not a number");
      const withErrors = await redis().pipeline().incr(key("p-text")).set(key("p-after"), "ran").exec({ keepErrors: true });
      expect(withErrors[0]!.error).toMatch(/^ERR value is not an integer/);
      expect(withErrors[1]).toEqual({ result: "OK", error: undefined });
      expect(await redis().get(key("p-after"))).toBe("ran");
      await expect(redis().pipeline().incr(key("p-text")).exec()).rejects.toThrow(errors.UpstashError);
    });

    it("transaction: MULTI/EXEC results, runtime errors stay per command", async () => {
      const results = await redis().multi().set(key("t"), "5").incrby(key("t"), 5).get(key("t")).exec();
      expect(results).toEqual(["OK", 10, 10]);

      await redis().set(key("t-text"), "abc");
      const withErrors = await redis().multi().incr(key("t-text")).set(key("t-after"), "ran").exec({ keepErrors: true });
      expect(withErrors[0]!.error).toMatch(/^ERR value is not an integer/);
      expect(withErrors[1]!.result).toBe("OK");
      expect(await redis().get(key("t-after"))).toBe("ran");
    });

    it("EVAL, SCRIPT LOAD and EVALSHA, including nested replies", async () => {
      const script = "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], tonumber(ARGV[2]) + 1, {'nested', 'OK'}, false}";
      expect(await redis().eval(script, [key("lua")], ["stored", "41"])).toEqual([key("lua"), 42, ["nested", "OK"], null]);
      expect(await redis().get(key("lua"))).toBe("stored");
      const sha = await redis().scriptLoad("return ARGV[1] .. ' from ' .. KEYS[1]");
      expect(sha).toBe(sha1("return ARGV[1] .. ' from ' .. KEYS[1]"));
      expect(await redis().evalsha(sha, ["k"], ["hello"])).toBe("hello from k");
      expect(await redis().scriptExists(sha, "0".repeat(40))).toEqual([1, 0]);
    });

    it("Upstash-style `#!lua flags=allow-key-locking` scripts run, and EVALSHA uses the SHA of the original text", async () => {
      const script = `#!lua flags=allow-key-locking\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
      expect(await redis().eval(script, [key("locked")], [2])).toBe(2);
      const sha = await redis().scriptLoad(script);
      expect(sha).toBe(sha1(script));
      expect(await redis().evalsha(sha, [key("locked")], [3])).toBe(5);
      expect(await redis().scriptExists(sha)).toEqual([1]);
      // The client's Script helper: EVALSHA first, EVAL on NOSCRIPT.
      const helper = redis().createScript<number>(`#!lua flags=allow-key-locking\nreturn redis.call('INCRBY', KEYS[1], 10) -- ${mode}`);
      expect(await helper.exec([key("locked")], [])).toBe(15);
      expect(await helper.exec([key("locked")], [])).toBe(25);
    });

    it("error: Redis errors surface as UpstashError with Redis' message", async () => {
      await redis().set(key("e"), "text");
      await expect(redis().incr(key("e"))).rejects.toThrow(errors.UpstashError);
      await expect(redis().incr(key("e"))).rejects.toThrow(/ERR value is not an integer or out of range/);
      await expect(redis().hget(key("e"), "field")).rejects.toThrow(/WRONGTYPE/);
      await expect(redis().evalsha("0".repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
      await expect(redis().eval("return redis.error_reply('MYERR custom')", [], [])).rejects.toThrow(/MYERR custom/);
    });
  },
);

describe("happy: @upstash/redis without automatic deserialization", () => {
  it("returns the stored text as is", async () => {
    const raw = fx.client({ automaticDeserialization: false });
    await raw.set("raw:json", JSON.stringify({ a: 1 }));
    await raw.set("raw:num", "007");
    expect(await raw.get("raw:json")).toBe('{"a":1}');
    expect(await raw.get("raw:num")).toBe("007");
    expect(await raw.hset("raw:h", { n: "1" })).toBe(1);
    // Without deserialization the client hands back Redis' flat RESP2 reply.
    expect(await raw.hgetall("raw:h")).toEqual(["n", "1"]);
    expect(await raw.zadd("raw:z", { score: 1.5, member: "m" })).toBe(1);
    expect(await raw.zrange("raw:z", 0, -1, { withScores: true })).toEqual(["m", "1.5"]);
  });
});

describe("happy: concurrency through one shared Redis connection", () => {
  it("concurrent transactions never interleave with each other or with plain commands", async () => {
    const redis = fx.client({ enableAutoPipelining: false });
    const transactions = Array.from({ length: 25 }, () => redis.multi().incr("concurrent").incr("concurrent").exec());
    const plain = Array.from({ length: 25 }, () => redis.incr("concurrent"));
    const [results] = await Promise.all([Promise.all(transactions), Promise.all(plain)]);
    for (const [first, second] of results as Array<[number, number]>) expect(second).toBe(first + 1);
    expect(await redis.get("concurrent")).toBe(75);
  });

  it("every client mode sees the same data", async () => {
    for (const [, redis] of modes()) await redis.incr("shared-counter");
    expect(await clients["one request per command"]!.get("shared-counter")).toBe(3);
  });
});
