import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createUpstashRest, UpstashError } from "../../src/redis/upstash-rest";
import { startBadServer, useUpstashTarget } from "./upstash-target";

// The worker's Upstash REST client (src/redis/upstash-rest.ts) against the Upstash REST protocol:
// the local bridge in front of a real redis-server (which test/tools/upstash-bridge*.test.ts prove
// speaks it, with the official clients), or a real Upstash database (upstash-target.ts).

const upstash = useUpstashTarget();

const key = (name: string) => `conformance:${name}:${randomUUID()}`;

/** Everything an error shows a log: its message, its string form, its own properties. */
const exposed = (error: unknown) => `${String(error)} ${JSON.stringify(error)} ${(error as Error).message}`;

async function failure(promise: Promise<unknown>): Promise<UpstashError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(UpstashError);
  return error as UpstashError;
}

describe("happy: commands", () => {
  it("GET of a key never set is null; SET … EX stores exactly the text, unicode and JSON alike, with its lifetime", async () => {
    const k = key("string");
    expect(await upstash.redis.get(k)).toBeNull();
    const value = JSON.stringify({ answer: "Zürich — 東京 — 🚀", quote: '"\\', n: 1 });
    expect(await upstash.redis.set(k, value, { ex: 120 })).toBe("OK");
    expect(await upstash.redis.get(k)).toBe(value);
    const ttl = await upstash.redis.command(["TTL", k]);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    // Text that looks like a number or JSON stays text.
    await upstash.redis.set(k, "42", { ex: 120 });
    expect(await upstash.redis.get(k)).toBe("42");
  });

  it("HGETALL is the hash as an object of strings, empty for a missing key", async () => {
    const k = key("hash");
    expect(await upstash.redis.hgetall(k)).toEqual({});
    await upstash.redis.pipeline([
      ["HINCRBY", k, "hits", 3],
      ["HINCRBY", k, "__proto__", 1],
    ]);
    const fields = await upstash.redis.hgetall(k);
    expect(Object.entries(fields)).toEqual([
      ["hits", "3"],
      ["__proto__", "1"],
    ]);
    expect(Object.getPrototypeOf(fields)).toBeNull();
  });

  it("a pipeline answers each command's result in order in one request", async () => {
    const k = key("pipeline");
    expect(
      await upstash.redis.pipeline([["HINCRBY", k, "a", 2], ["HINCRBY", k, "a", 5], ["HINCRBY", k, "b", 1], ["HGETALL", k], ["PING"]]),
    ).toEqual([2, 7, 1, ["a", "7", "b", "1"], "PONG"]);
    expect(await upstash.redis.pipeline([])).toEqual([]);
  });

  it("evalScript runs a script Redis has not seen (NOSCRIPT → EVAL), then by its hash alone", async () => {
    const source = `return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1, "${randomUUID()}"}`;
    const script = { source, sha1: createHash("sha1").update(source).digest("hex") };
    expect(await upstash.redis.command(["SCRIPT", "EXISTS", script.sha1])).toEqual([0]);
    const k = key("script");
    const answer = (await upstash.redis.evalScript(script, [k], ["x", 41])) as unknown[];
    expect(answer).toEqual([k, "x", 42, expect.any(String)]);
    // EVAL cached it: from now on EVALSHA alone answers (a wrong text with the right hash proves it).
    expect(await upstash.redis.command(["SCRIPT", "EXISTS", script.sha1])).toEqual([1]);
    expect(await upstash.redis.evalScript({ source: "return 'not this text'", sha1: script.sha1 }, [k], ["y", 1])).toEqual([
      k,
      "y",
      2,
      answer[3],
    ]);
  });
});

describe("error: what Redis and Upstash refuse", () => {
  it("a command Redis refuses is a `command` UpstashError with Redis' error code", async () => {
    const k = key("wrongtype");
    await upstash.redis.pipeline([["HINCRBY", k, "a", 1]]);
    const error = await failure(upstash.redis.get(k));
    expect(error).toMatchObject({ kind: "command", status: 400, redisCode: "WRONGTYPE" });
    // Never the command's arguments: keys carry tenant ids and client IPs.
    expect(exposed(error)).not.toContain(k);
  });

  it("a pipeline with a refused command throws it; the commands around it still ran", async () => {
    const [bad, good] = [key("bad"), key("good")];
    await upstash.redis.pipeline([["HINCRBY", bad, "a", 1]]);
    const error = await failure(
      upstash.redis.pipeline([
        ["HINCRBY", good, "n", 1],
        ["GET", bad],
        ["HINCRBY", good, "n", 1],
      ]),
    );
    expect(error).toMatchObject({ kind: "command", redisCode: "WRONGTYPE" });
    expect(await upstash.redis.hgetall(good)).toEqual({ n: "2" });
  });

  it("a script that fails is Redis' error, also after the NOSCRIPT fallback", async () => {
    const source = `return redis.error_reply("ERR conformance ${randomUUID()}")`;
    const error = await failure(upstash.redis.evalScript({ source, sha1: createHash("sha1").update(source).digest("hex") }, [], []));
    expect(error).toMatchObject({ kind: "command", redisCode: "ERR" });
    expect(error.message).toContain("ERR conformance");
  });
});

describe("security: credentials never reach an error", () => {
  it("a wrong token is an `http` 401 that names neither token", async () => {
    const wrong = `wrong-${randomUUID()}`;
    const error = await failure(createUpstashRest({ url: upstash.target.url, token: wrong, timeoutMs: 5_000 }).get(key("auth")));
    expect(error).toMatchObject({ kind: "http", status: 401 });
    expect(exposed(error)).not.toContain(wrong);
    expect(exposed(error)).not.toContain(upstash.target.token);
  });

  it("a URL with credentials in it: the runtime's error quotes the URL, ours does not", async () => {
    const password = `pw-${randomUUID()}`;
    const token = `tk-${randomUUID()}`;
    const error = await failure(createUpstashRest({ url: `http://someone:${password}@127.0.0.1:9`, token, timeoutMs: 5_000 }).get("k"));
    expect(error.kind).toBe("network");
    expect(exposed(error)).not.toContain(password);
    expect(exposed(error)).not.toContain(token);
    expect(error.cause).toBeUndefined();
  });
});

describe("error: transport failures", () => {
  it("an answer that is not Upstash's JSON is an `http` error with its status", async () => {
    const server = await startBadServer("html");
    try {
      const error = await failure(createUpstashRest({ url: server.url, token: "t", timeoutMs: 5_000 }).get("k"));
      expect(error).toMatchObject({ kind: "http", status: 502 });
    } finally {
      await server.close();
    }
  });

  it("a dropped connection is retried `retries` times, then a `network` error", async () => {
    const server = await startBadServer("reset");
    try {
      const once = await failure(createUpstashRest({ url: server.url, token: "t", timeoutMs: 5_000 }).get("k"));
      expect(once.kind).toBe("network");
      expect(server.requests()).toBe(1);
      await failure(createUpstashRest({ url: server.url, token: "t", timeoutMs: 5_000, retries: 1, backoffMs: 10 }).get("k"));
      expect(server.requests()).toBe(3);
    } finally {
      await server.close();
    }
  });

  it("no answer within the deadline is a `timeout` error, not retried", async () => {
    const server = await startBadServer("hang");
    try {
      const client = createUpstashRest({ url: server.url, token: "t", timeoutMs: 200, retries: 1, backoffMs: 10 });
      expect(await failure(client.get("k"))).toMatchObject({ kind: "timeout" });
      expect(await failure(client.pipeline([["GET", "k"]]))).toMatchObject({ kind: "timeout" });
      expect(server.requests()).toBe(2);
    } finally {
      await server.close();
    }
  });
});
