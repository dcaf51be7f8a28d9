import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";

/**
 * No Docker engine here: the Dockerfile is parsed and linted, and the image rules checked statically.
 * Its build context is the repository root (`docker build -f container/Dockerfile .`).
 */
const root = resolve(import.meta.dirname, "../../..");
const content = readFileSync(resolve(root, "container/Dockerfile"), "utf8");
const dockerfile = DockerfileParser.parse(content);

type Stage = { name: string | null; instructions: Instruction[] };
const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction.getKeyword() === "FROM") {
    stages.push({ name: dockerfile.getFROMs()[stages.length]!.getBuildStage(), instructions: [] });
  } else stages.at(-1)?.instructions.push(instruction);
}
const final = stages.at(-1)!;
const args = (i: Instruction) => i.getArgumentsContent() ?? "";
const fromFlag = (i: Instruction) =>
  (i as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] })
    .getFlags()
    .find((f) => f.getName() === "from")
    ?.getValue();
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
/** The root .dockerignore: ignore everything, then let in (`!path`) what the image needs. */
const rules = readFileSync(resolve(root, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const letIn = rules.filter((rule) => rule.startsWith("!")).map((rule) => rule.slice(1));
const inContext = (path: string) => letIn.some((allowed) => path === allowed || path.startsWith(`${allowed}/`));

describe("Dockerfile", () => {
  it("happy: lints without errors (dockerfile-utils)", () => {
    const errors = validate(content).filter((d) => d.severity === 1);
    expect(errors.map((d) => d.message)).toEqual([]);
  });

  it("happy: multi-stage, the runtime built from a production-only dependency install", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const copiedFrom = of(final, "COPY").map(fromFlag).filter(Boolean);
    expect(copiedFrom.length).toBeGreaterThan(0);
    const modulesFrom = of(final, "COPY").find((c) => /node_modules/.test(args(c)))!;
    const depsStage = stages.find((s) => s.name === fromFlag(modulesFrom))!;
    expect(of(depsStage, "RUN").map(args).join("\n")).toMatch(/npm ci [^\n]*--omit=dev/);
    // The runtime installs nothing itself and never copies the sources or dev tooling.
    expect(of(final, "RUN")).toEqual([]);
    expect(of(final, "COPY").map(args).join("\n")).not.toMatch(/\bsrc\b|\btest\b|tsconfig/);
  });

  it("security: the runtime runs as a non-root user", () => {
    const users = of(final, "USER").map(args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it("happy: HEALTHCHECK probes /healthz, CMD runs the compiled server in exec form, listening on 0.0.0.0:8788", () => {
    const healthcheck = of(final, "HEALTHCHECK").map(args).join(" ");
    expect(healthcheck).toMatch(/CMD/);
    expect(healthcheck).toContain("/healthz");
    expect(args(of(final, "CMD").at(-1)!)).toBe('["node", "dist/container/src/server.js"]');
    const env = of(final, "ENV").map(args).join(" ");
    expect(env).toMatch(/HOST=0\.0\.0\.0/);
    expect(env).toMatch(/NODE_ENV=production/);
    expect(of(final, "EXPOSE").map(args)).toContain("8788");
  });

  it("happy: builds from the repository root: every COPY source exists there and .dockerignore lets it in", () => {
    const sources = stages
      .flatMap((s) => of(s, "COPY"))
      .filter((c) => !fromFlag(c))
      .flatMap((c) =>
        c
          .getArguments()
          .map((a) => a.getValue())
          .slice(0, -1),
      );
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(resolve(root, source)), source).toBe(true);
      expect(inContext(source), source).toBe(true);
    }
  });

  it("happy: .dockerignore keeps everything but the origin's sources, its package files and src/shared out of the context", () => {
    expect(rules[0]).toBe("*");
    for (const entry of [
      "node_modules",
      "container/node_modules",
      "container/dist",
      "container/test",
      "container/bench",
      "test",
      ".env",
      "src/index.ts",
    ])
      expect(inContext(entry), entry).toBe(false);
    // The contract the origin compiles, with the worker that shares it.
    expect(inContext("src/shared/origin-contract.ts")).toBe(true);
  });
});
