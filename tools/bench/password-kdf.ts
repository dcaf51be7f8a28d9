/**
 * CPU per password login, measured in workerd (wrangler's local runtime, the one the worker runs on): one
 * request derives a password hash `n` times with the worker's own `hashPassword` settings
 * (PBKDF2-HMAC-SHA256, PBKDF2_ITERATIONS) and, for comparison, the alternatives a Worker can run:
 * PBKDF2-SHA512 and scrypt from node:crypto (nodejs_compat) where workerd has it. Timed from
 * outside the isolate (workerd freezes its clocks while a request computes), one request at a time:
 * each run times a request of `n` derivations and one of none right after it, and counts the
 * difference / n (derivation is pure CPU, so that wall time is its CPU time). Prints the median.
 *
 * Usage: npm run bench:kdf [-- --runs 7 --n 10]. Figures differ between machines: compare runs on
 * one machine, and read them against Workers' CPU limit per request.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";
import { PBKDF2_ITERATIONS } from "../../src/auth/passwords";

const { values } = parseArgs({ options: { runs: { type: "string", default: "7" }, n: { type: "string", default: "10" } } });
const runs = Number(values.runs);
const n = Number(values.n);

const WORKER = `
import * as nodeCrypto from "node:crypto";
const password = new TextEncoder().encode("correct horse battery staple");
const salt = new Uint8Array(16).fill(7); // no random values at global scope in workerd; any salt costs the same
async function pbkdf2(hash, iterations) {
  const key = await crypto.subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
  await crypto.subtle.deriveBits({ name: "PBKDF2", hash, salt, iterations }, key, 256);
}
const KDFS = {
  "pbkdf2-sha256": (iterations) => pbkdf2("SHA-256", iterations),
  "pbkdf2-sha512": (iterations) => pbkdf2("SHA-512", iterations),
  // N = cost, r = 8, p = 1: memory 128 * N * r bytes.
  scrypt: (cost) => new Promise((resolve, reject) =>
    nodeCrypto.scrypt(password, salt, 32, { N: cost, r: 8, p: 1, maxmem: 256 * 1024 * 1024 }, (error) => (error ? reject(error) : resolve()))),
};
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const kdf = KDFS[url.searchParams.get("kdf")];
    const param = Number(url.searchParams.get("param"));
    const times = Number(url.searchParams.get("n"));
    try {
      for (let i = 0; i < times; i++) await kdf(param);
      return new Response("ok");
    } catch (error) {
      return new Response(String(error), { status: 500 });
    }
  },
};`;

const CASES: Array<{ label: string; kdf: string; param: number }> = [
  {
    label: `PBKDF2-SHA256, ${PBKDF2_ITERATIONS.toLocaleString("en")} iterations (the worker's)`,
    kdf: "pbkdf2-sha256",
    param: PBKDF2_ITERATIONS,
  },
  { label: `PBKDF2-SHA512, ${PBKDF2_ITERATIONS.toLocaleString("en")} iterations`, kdf: "pbkdf2-sha512", param: PBKDF2_ITERATIONS },
  { label: "scrypt N=2^14 r=8 p=1 (16 MiB)", kdf: "scrypt", param: 2 ** 14 },
  { label: "scrypt N=2^15 r=8 p=1 (32 MiB)", kdf: "scrypt", param: 2 ** 15 },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), "edge-rag-kdf-"));
writeFileSync(join(dir, "kdf.mjs"), WORKER);
const worker = await unstable_startWorker({
  name: "kdf-bench",
  entrypoint: join(dir, "kdf.mjs"),
  compatibilityDate: "2025-09-01",
  compatibilityFlags: ["nodejs_compat"],
  dev: { server: { port: 0 }, inspector: false, logLevel: "error" },
});
try {
  await worker.ready;
  const time = async (query: string) => {
    const started = performance.now();
    const response = await worker.fetch(`http://bench/?${query}`);
    const text = await response.text();
    return { ms: performance.now() - started, ok: response.ok, text };
  };
  await time("kdf=pbkdf2-sha256&param=1&n=1"); // warm-up: the first request builds the isolate
  console.log(
    `KDF CPU per derivation in workerd (median of ${runs} runs; each run: a request of ${n} derivations minus one of none, / ${n})`,
  );
  for (const { label, kdf, param } of CASES) {
    const samples: number[] = [];
    let failure: string | undefined;
    for (let i = 0; i < runs && !failure; i++) {
      const { ms, ok, text } = await time(`kdf=${kdf}&param=${param}&n=${n}`);
      if (!ok) failure = text.slice(0, 120);
      const empty = await time(`kdf=${kdf}&param=${param}&n=0`);
      samples.push((ms - empty.ms) / n);
    }
    console.log(failure ? `  ${label}: not available in workerd (${failure})` : `  ${label}: ${median(samples).toFixed(1)} ms`);
  }
} finally {
  await worker.dispose();
  rmSync(dir, { recursive: true, force: true });
}
