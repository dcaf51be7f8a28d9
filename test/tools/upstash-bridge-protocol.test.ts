import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rewriteShebang } from "../../tools/upstash-bridge/lua-scripts";
import { type BridgeFixture, startBridgeFixture } from "./upstash-bridge-fixture";

// The Upstash REST protocol as hand-written HTTP requests: the forms the docs describe, the exact
// encodings @upstash/redis relies on, and every kind of bad input.
const MAX_BODY = 64 * 1024;
let fx: BridgeFixture;

beforeAll(async () => {
  // The REST protocol over any command; the default allow-list has its own tests below.
  fx = await startBridgeFixture({ maxBodyBytes: MAX_BODY, allowCommands: "any" });
});
afterAll(async () => {
  await fx?.stop();
});

const b64 = (text: string) => Buffer.from(text).toString("base64");
const BASE64 = { "upstash-encoding": "base64" };

describe("happy: request forms", () => {
  it("POST / with a JSON command array", async () => {
    expect(await fx.post("/", ["SET", "form:json", "v", "EX", 100])).toMatchObject({ status: 200, body: { result: "OK" } });
    expect((await fx.post("/", ["GET", "form:json"])).body).toEqual({ result: "v" });
    // Command names are case-insensitive; numbers and booleans become their text.
    expect((await fx.post("/", ["hset", "form:h", "n", 1.5, "b", false])).body).toEqual({ result: 2 });
    expect((await fx.post("/", ["HGETALL", "form:h"])).body).toEqual({ result: ["n", "1.5", "b", "false"] });
  });

  it("URL path form, GET and POST, with percent-encoded segments", async () => {
    expect((await fx.request("/set/form%2Fpath/hello%20world")).body).toEqual({ result: "OK" });
    expect((await fx.request("/GET/form%2Fpath")).body).toEqual({ result: "hello world" });
    expect((await fx.request("/mget/form%2Fpath/form:none", { method: "POST" })).body).toEqual({ result: ["hello world", null] });
  });

  it("POST body appended as the last argument, binary-safe, then query parameters", async () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x41, 0x0a, 0xc3]);
    expect((await fx.request("/set/form:bin?EX=100", { method: "POST", body: bytes })).body).toEqual({ result: "OK" });
    expect((await fx.request("/get/form:bin", { headers: BASE64 })).body).toEqual({ result: Buffer.from(bytes).toString("base64") });
    const ttl = (await fx.request("/ttl/form:bin")).body.result;
    expect(ttl).toBeGreaterThan(95);
    expect((await fx.request("/set/form:nx?NX", { method: "POST", body: "first" })).body).toEqual({ result: "OK" });
    expect((await fx.request("/set/form:nx?NX", { method: "POST", body: "second" })).body).toEqual({ result: null });
  });

  it("pipeline: one result or error per command, none aborts the others", async () => {
    const { status, body } = await fx.post("/pipeline", [
      ["SET", "pl:a", "x"],
      ["INCR", "pl:a"],
      ["SET", "pl:b", "y"],
      ["NOSUCHCMD"],
      ["GET", "pl:b"],
    ]);
    expect(status).toBe(200);
    expect(body).toEqual([
      { result: "OK" },
      { error: "ERR value is not an integer or out of range" },
      { result: "OK" },
      { error: expect.stringMatching(/^ERR unknown command 'NOSUCHCMD'/) },
      { result: "y" },
    ]);
  });

  it("multi-exec: runtime errors per command; a command Redis will not queue discards everything", async () => {
    const ok = await fx.post("/multi-exec", [
      ["SET", "tx:a", "1"],
      ["LPUSH", "tx:a", "x"],
      ["INCR", "tx:a"],
    ]);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual([{ result: "OK" }, { error: expect.stringMatching(/^WRONGTYPE/) }, { result: 2 }]);

    const discarded = await fx.post("/multi-exec", [["SET", "tx:b", "changed"], ["GET"]]);
    expect(discarded).toMatchObject({ status: 400, body: { error: "ERR wrong number of arguments for 'get' command" } });
    expect((await fx.post("/", ["EXISTS", "tx:b"])).body).toEqual({ result: 0 });
  });

  it("reply types: integers as numbers, nil as null, nested arrays, flat HGETALL, scores as strings", async () => {
    await fx.post("/", ["ZADD", "rt:z", "1.5", "m"]);
    expect((await fx.post("/", ["ZRANGE", "rt:z", "0", "-1", "WITHSCORES"])).body).toEqual({ result: ["m", "1.5"] });
    const lua = await fx.post("/", ["EVAL", "return {1, 'two', {3, {'four'}}, false, redis.status_reply('FIVE')}", "0"]);
    expect(lua.body).toEqual({ result: [1, "two", [3, ["four"]], null, "FIVE"] });
    expect((await fx.post("/", ["GET", "rt:nothing"])).body).toEqual({ result: null });
  });

  it("integers beyond 2^53 in the JSON body keep their exact digits", async () => {
    // Written by hand: JSON.stringify would already have rounded the number.
    await fx.request("/", { method: "POST", body: '["SET", "big", 9007199254740993]' });
    expect((await fx.post("/", ["GET", "big"])).body).toEqual({ result: "9007199254740993" });
  });
});

describe("happy: Upstash-Encoding: base64", () => {
  it("encodes every string, recursively, except a top-level OK", async () => {
    expect((await fx.post("/", ["SET", "enc:k", "bar"], BASE64)).text).toBe('{"result":"OK"}');
    expect((await fx.post("/", ["GET", "enc:k"], BASE64)).body).toEqual({ result: b64("bar") });
    expect((await fx.post("/", ["INCR", "enc:n"], BASE64)).body).toEqual({ result: 1 });
    expect((await fx.post("/", ["GET", "enc:none"], BASE64)).body).toEqual({ result: null });
    // @upstash/redis base64-decodes every string inside an array, so a nested OK must be encoded.
    const nested = await fx.post("/", ["EVAL", "return {'OK', 7, {'x', redis.status_reply('OK')}, false}", "0"], BASE64);
    expect(nested.body).toEqual({ result: [b64("OK"), 7, [b64("x"), b64("OK")], null] });
    expect((await fx.post("/", ["PING"], BASE64)).body).toEqual({ result: b64("PONG") });
  });

  it("applies per command in pipelines and transactions", async () => {
    const piped = await fx.post(
      "/pipeline",
      [
        ["SET", "enc:p", "😀"],
        ["GET", "enc:p"],
        ["HGETALL", "enc:none"],
      ],
      BASE64,
    );
    expect(piped.body).toEqual([{ result: "OK" }, { result: b64("😀") }, { result: [] }]);
    const tx = await fx.post(
      "/multi-exec",
      [
        ["SET", "enc:t", "v"],
        ["GET", "enc:t"],
      ],
      BASE64,
    );
    expect(tx.body).toEqual([{ result: "OK" }, { result: b64("v") }]);
  });

  it("without the header, invalid UTF-8 becomes U+FFFD as Upstash documents", async () => {
    await fx.request("/set/enc:bin", { method: "POST", body: new Uint8Array([0x61, 0xff, 0x62]) });
    expect((await fx.request("/get/enc:bin")).body).toEqual({ result: "a\uFFFDb" });
  });
});

describe("happy: Lua shebang rewriting", () => {
  it("drops only the Upstash-only flag and keeps the ones Redis knows", () => {
    expect(rewriteShebang("#!lua flags=allow-key-locking\nreturn 1")).toBe("#!lua\nreturn 1");
    expect(rewriteShebang("#!lua flags=no-writes,allow-key-locking\nreturn 1")).toBe("#!lua flags=no-writes\nreturn 1");
    expect(rewriteShebang("#!lua flags=no-writes\nreturn 1")).toBe("#!lua flags=no-writes\nreturn 1");
    expect(rewriteShebang("return 1")).toBe("return 1");
    expect(rewriteShebang("#!lua name=lib\nreturn 1")).toBe("#!lua name=lib\nreturn 1");
    expect(rewriteShebang("#!lua  flags=allow-key-locking\r\nreturn 1")).toBe("#!lua\nreturn 1");
  });

  it("kept flags still bind in real Redis, and invalid shebangs get Redis' own error", async () => {
    const readOnly = await fx.post("/", ["EVAL", "#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', 'lua:x', '1')", "0"]);
    expect(readOnly.status).toBe(400);
    expect(readOnly.body.error).toMatch(/Write commands are not allowed from read-only scripts/);
    const bogus = await fx.post("/", ["EVAL", "#!lua flags=bogus\nreturn 1", "0"]);
    expect(bogus).toMatchObject({ status: 400, body: { error: "ERR Unexpected flag in script shebang: bogus" } });
  });

  it("EVALSHA of an unknown SHA is Redis' exact NOSCRIPT error", async () => {
    const response = await fx.post("/", ["EVALSHA", "ab".repeat(20), "0"]);
    expect(response).toMatchObject({ status: 400, body: { error: "NOSCRIPT No matching script. Please use EVAL." } });
  });
});

describe("security", () => {
  it("a wrong token gets 401 Unauthorized and is not echoed", async () => {
    const wrong = `wrong-token-${"z".repeat(20)}`;
    const response = await fx.request("/get/k", { headers: { authorization: `Bearer ${wrong}` } });
    expect(response).toMatchObject({ status: 401, body: { error: "Unauthorized" } });
    expect(response.text).not.toContain(wrong);
    expect([...response.headers.values()].join(" ")).not.toContain(wrong);
  });

  it("no token, an empty token or another scheme gets 401", async () => {
    for (const authorization of [
      "",
      "Bearer",
      "Bearer ",
      `Basic ${fx.token}`,
      fx.token,
      `Bearer ${fx.token}x`,
      `Bearer ${fx.token.slice(1)}`,
    ]) {
      const response = await fx.request("/ping", { headers: { authorization } });
      expect(response, authorization).toMatchObject({ status: 401, body: { error: "Unauthorized" } });
    }
  });

  it("401 comes before anything else: no command runs, the body is never parsed", async () => {
    const response = await fetch(`${fx.url}/set/sec:untouched/v`, { method: "POST", body: "{not json" });
    expect(response.status).toBe(401);
    expect((await fx.post("/", ["EXISTS", "sec:untouched"])).body).toEqual({ result: 0 });
  });

  it("security: accepts only the Authorization header, not Upstash's `_token` query parameter", async () => {
    const response = await fetch(`${fx.url}/set/sec:q/v?_token=${encodeURIComponent(fx.token)}`);
    expect(response.status).toBe(401);
    expect((await fetch(`${fx.url}/get/sec:q?_token=nope`)).status).toBe(401);
    // With the header, a stray _token is still never an argument.
    expect((await fx.request(`/set/sec:q/v?_token=x`)).body).toEqual({ result: "OK" });
    expect((await fx.post("/", ["GET", "sec:q"])).body).toEqual({ result: "v" });
  });

  it("the token appears in no response and no log line", async () => {
    const responses = await Promise.all([
      fx.request("/get/k", { headers: { authorization: "Bearer nope" } }),
      // Redis echoes the arguments of an unknown command; the bridge redacts the token from errors.
      fx.post("/", ["NOSUCHCMD", fx.token]),
      fx.post("/multi-exec", [["GET", fx.token, "extra"]]),
      fx.post("/", { not: "an array" }),
      fx.request("/", { method: "POST", body: "x".repeat(MAX_BODY + 1) }),
      fx.post("/", ["GET", "sec:q"]),
      fx.post("/", ["CONFIG", "GET", "requirepass"]),
    ]);
    for (const response of responses) expect(response.text).not.toContain(fx.token);
    expect(fx.logs.length).toBeGreaterThan(0);
    expect(fx.logs.join("\n")).not.toContain(fx.token);
  });
});

describe("error: bad input gets a clear 4xx and never hurts the bridge", () => {
  it.each([
    ["malformed JSON", "{nope", 400, /not valid JSON/],
    ["a JSON object", JSON.stringify({ command: "GET" }), 400, /must be a JSON array/],
    ["a JSON string", JSON.stringify("GET k"), 400, /must be a JSON array/],
    ["an empty command", "[]", 400, /empty/],
    ["a non-string command name", '[42, "k"]', 400, /command name must be a non-empty string/],
    ["a null argument", '["SET", "k", null]', 400, /argument 2 is null/],
    ["an object argument", '["SET", "k", {"a": 1}]', 400, /argument 2 is an object/],
    ["a nested array argument", '["SET", "k", [1]]', 400, /argument 2 is an array/],
  ])("POST / with %s → 400", async (_label, body, status, message) => {
    const response = await fx.request("/", { method: "POST", body });
    expect(response.status).toBe(status);
    expect(response.body.error).toMatch(message);
  });

  it.each([
    ["/pipeline", "{}", /must be a JSON array of commands/],
    ["/pipeline", "[]", /no commands/],
    ["/pipeline", '[["PING"], "PING"]', /command 2 must be a JSON array/],
    ["/multi-exec", "[[]]", /command 1 is empty/],
    ["/multi-exec", "not json", /not valid JSON/],
  ])("POST %s with %s → 400", async (path, body, message) => {
    const response = await fx.request(path, { method: "POST", body });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(message);
  });

  it("an empty request, a bad percent-encoding, an unknown command → 400", async () => {
    expect((await fx.request("/")).status).toBe(400);
    expect((await fx.request("/get/%E0%A4%A")).body.error).toMatch(/percent-encoding/);
    const unknown = await fx.post("/", ["NOSUCHCMD", "a"]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/^ERR unknown command 'NOSUCHCMD'/);
  });

  it("an unsupported method → 405, an unsupported response format → 400", async () => {
    const deleted = await fx.request("/get/k", { method: "DELETE" });
    expect(deleted.status).toBe(405);
    expect(deleted.headers.get("allow")).toBe("GET, HEAD, POST, PUT");
    expect((await fx.request("/get/k", { headers: { "upstash-response-format": "resp2" } })).status).toBe(400);
  });

  it("an oversized body → 413, whether announced by Content-Length or streamed", async () => {
    const announced = await fx.post("/", ["SET", "big:k", "x".repeat(MAX_BODY)]);
    expect(announced).toMatchObject({ status: 413, body: { error: expect.stringMatching(/max request size exceeded/) } });
    const chunk = new Uint8Array(16 * 1024);
    const streamed = await fetch(`${fx.url}/set/big:k`, {
      method: "POST",
      headers: { authorization: `Bearer ${fx.token}` },
      body: new ReadableStream({
        pull(controller) {
          controller.enqueue(chunk);
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await fx.post("/", ["EXISTS", "big:k"])).body).toEqual({ result: 0 });
    // Exactly at the limit is fine.
    const fits = await fx.request("/set/big:fits", { method: "POST", body: "y".repeat(MAX_BODY) });
    expect(fits.body).toEqual({ result: "OK" });
  });

  it.each([
    [["BLPOP", "l", "0"], /blocking/],
    [["BZPOPMIN", "z", "0"], /blocking/],
    [["XREAD", "BLOCK", "0", "STREAMS", "s", "$"], /blocking/],
    [["SUBSCRIBE", "ch"], /state of the shared Redis connection/],
    [["MONITOR"], /state of the shared Redis connection/],
    [["SELECT", "1"], /state of the shared Redis connection/],
    [["CLIENT", "REPLY", "OFF"], /state of the shared Redis connection/],
    [["MULTI"], /\/multi-exec/],
    [["WATCH", "k"], /\/multi-exec/],
    [["SHUTDOWN"], /not supported/],
  ])("%j is refused with 400 because it would hang or alter the shared connection", async (command, message) => {
    const response = await fx.post("/", command);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(message);
  });

  it("refused commands: per entry in a pipeline, the whole transaction in multi-exec", async () => {
    const piped = await fx.post("/pipeline", [
      ["SET", "ref:p", "1"],
      ["BLPOP", "l", "0"],
      ["GET", "ref:p"],
    ]);
    expect(piped.body).toEqual([{ result: "OK" }, { error: expect.stringMatching(/blocking/) }, { result: "1" }]);
    const tx = await fx.post("/multi-exec", [
      ["SET", "ref:t", "1"],
      ["SUBSCRIBE", "ch"],
    ]);
    expect(tx.status).toBe(400);
    expect((await fx.post("/", ["EXISTS", "ref:t"])).body).toEqual({ result: 0 });
  });

  it("non-blocking XREAD and CLIENT subcommands that only read still work", async () => {
    await fx.post("/", ["XADD", "ref:s", "*", "f", "v"]);
    const read = await fx.post("/", ["XREAD", "COUNT", "1", "STREAMS", "ref:s", "0"]);
    expect(read.status).toBe(200);
    expect(read.body.result[0][0]).toBe("ref:s");
    expect((await fx.post("/", ["CLIENT", "ID"])).status).toBe(200);
  });

  it("a malformed HTTP request gets 400 and the bridge keeps serving", async () => {
    const url = new URL(fx.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, method: "GET", path: "/ping", headers: { "content-length": "nope" } },
        (res) => {
          resolve(String(res.statusCode));
          res.resume();
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(raw).toBe("400");
    expect((await fx.post("/", ["PING"])).body).toEqual({ result: "PONG" });
  });

  it("after all of the above, the shared connection is still healthy and in database 0", async () => {
    expect((await fx.post("/", ["PING"])).body).toEqual({ result: "PONG" });
    expect((await fx.post("/", ["GET", "form:json"])).body).toEqual({ result: "v" });
  });
});

describe("security: the default command allow-list", () => {
  let strict: BridgeFixture;
  beforeAll(async () => {
    strict = await startBridgeFixture();
  });
  afterAll(() => strict?.stop());

  it("security: runs what the project's clients send, refuses everything else, in pipelines and transactions too", async () => {
    expect((await strict.post("/", ["SET", "allow:k", "v", "EX", "60"])).body).toEqual({ result: "OK" });
    expect((await strict.post("/", ["GET", "allow:k"])).body).toEqual({ result: "v" });
    expect(
      (
        await strict.post("/pipeline", [
          ["HINCRBY", "allow:h", "hits", "2"],
          ["HGETALL", "allow:h"],
        ])
      ).body,
    ).toEqual([{ result: 2 }, { result: ["hits", "2"] }]);
    expect((await strict.post("/", ["SCRIPT", "LOAD", "return 1"])).status).toBe(200);
    for (const command of [
      ["CONFIG", "SET", "dir", "/tmp"],
      ["FLUSHALL"],
      ["KEYS", "*"],
      ["SCAN", "0"],
      ["MIGRATE", "h", "1", "k", "0", "1"],
      ["SCRIPT", "FLUSH"],
      ["FUNCTION", "FLUSH"],
      ["LPUSH", "l", "x"],
      ["BLPOP", "l", "0"],
    ]) {
      const single = await strict.post("/", command);
      expect(single.status, command.join(" ")).toBe(400);
      expect(single.body.error).toMatch(/not (allowed|supported) by the Upstash bridge/);
      const piped = await strict.post("/pipeline", [["GET", "allow:k"], command]);
      expect(piped.body[1].error).toMatch(/not (allowed|supported)/);
      expect((await strict.post("/multi-exec", [["GET", "allow:k"], command])).status).toBe(400);
    }
    expect((await strict.post("/", ["GET", "allow:k"])).body).toEqual({ result: "v" });
  });
});
