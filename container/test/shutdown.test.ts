import { describe, expect, it } from "vitest";
import { startOrigin } from "./helpers/origin.ts";
import { authHeaders } from "./helpers/token.ts";

describe("graceful shutdown", () => {
  it("happy: SIGTERM lets an in-flight request finish, then the process exits 0", async () => {
    const origin = await startOrigin({ EMBED_WORKERS: "1" });
    // Long passages keep the single worker busy for a while.
    const inputs = Array.from({ length: 48 }, (_, i) => `${i} ${"a long passage about many things ".repeat(40)}`);
    const inFlight = fetch(`${origin.url}/v1/embed`, {
      method: "POST",
      headers: await authHeaders("/v1/embed"),
      body: JSON.stringify({ inputs, kind: "passage" }),
    });
    await new Promise((r) => setTimeout(r, 150));
    const exit = origin.stop();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect((await response.json()).vectors).toHaveLength(48);
    expect(await exit).toBe(0);
    expect(origin.output()).toContain("draining");
  });
});
