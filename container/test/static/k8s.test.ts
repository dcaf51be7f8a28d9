import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type K8sObject, k8sDir, kustomize, strategicMerge } from "../helpers/kustomize.ts";

/**
 * The manifests are rendered with the minimal kustomize in helpers/kustomize.ts (no kustomize binary
 * here) and every object is validated against the Kubernetes OpenAPI schemas shipped in the
 * `kubernetes-models` package; then the deployment rules are checked across objects.
 */
async function validateSchema(o: K8sObject) {
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [undefined, o.apiVersion];
  const module = await import(`kubernetes-models/${group ? `${group}/` : ""}${version}/${o.kind}`);
  new module[o.kind](o).validate(); // throws with the schema path on any violation
}

const overlays = readdirSync(join(k8sDir, "overlays"));
const rendered = Object.fromEntries(
  ["base", ...overlays].map((name) => [name, kustomize(join(k8sDir, name === "base" ? "base" : `overlays/${name}`))]),
);
const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} missing`);
  return o as any;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("kustomize renderer (minimal, in-repo)", () => {
  it("happy: strategic merge merges maps, merges named lists by name, replaces other lists", () => {
    const base = { spec: { replicas: 2, containers: [{ name: "a", env: [{ name: "X", value: "1" }], args: ["--a"] }] } };
    const patch = { spec: { containers: [{ name: "a", env: [{ name: "Y", value: "2" }], args: ["--b"] }, { name: "b" }] } };
    expect(strategicMerge(base, patch)).toEqual({
      spec: {
        replicas: 2,
        containers: [
          {
            name: "a",
            env: [
              { name: "X", value: "1" },
              { name: "Y", value: "2" },
            ],
            args: ["--b"],
          },
          { name: "b" },
        ],
      },
    });
  });

  it("happy: overlays set namespace, image and their patches on top of the base", () => {
    const production = find(rendered.production!, "Deployment", "origin");
    expect(production.metadata.namespace).toBe("edge-rag");
    expect(production.spec.template.spec.containers[0].image).toBe("ghcr.io/edge-rag/origin:0.1.0");
    expect(production.spec.replicas).toBe(3);
    // The patch merged into the container instead of replacing it: env and probes survive.
    expect(production.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe("/readyz");
    expect(production.spec.template.spec.containers[0].resources.requests.cpu).toBe("1");
    const staging = find(rendered.staging!, "Deployment", "origin");
    expect(staging.metadata.namespace).toBe("edge-rag-staging");
    const env = staging.spec.template.spec.containers[0].env;
    expect(env.find((e: { name: string }) => e.name === "LOG_LEVEL").value).toBe("debug");
    expect(env.find((e: { name: string }) => e.name === "ORIGIN_JWT_SECRET").valueFrom).toBeDefined();
    expect(find(rendered.production!, "Deployment", "tei").spec.replicas).toBe(2);
  });

  it("error: fields it does not implement are refused, not ignored", () => {
    const dir = mkdtempSync(join(tmpdir(), "kustomize-"));
    try {
      writeFileSync(join(dir, "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: x-\n");
      expect(() => kustomize(dir)).toThrow(/unsupported field namePrefix/);
      writeFileSync(join(dir, "kustomization.yaml"), "kind: Kustomization\nresources: [../missing-patch-target]\n");
      expect(() => kustomize(dir)).toThrow();
    } finally {
      rmSync(dir, { recursive: true });
    }
    expect(() => kustomize(join(k8sDir, "does-not-exist"))).toThrow(/no kustomization.yaml/);
  });
});

for (const [name, objects] of Object.entries(rendered)) {
  describe(`k8s ${name}`, () => {
    it("happy: every object is valid against the Kubernetes schemas", async () => {
      expect(objects.length).toBeGreaterThanOrEqual(12);
      for (const o of objects) await expect(validateSchema(o), `${o.kind}/${o.metadata.name}`).resolves.toBeUndefined();
    });

    it("happy: the origin Deployment probes /healthz and /readyz, sets resources and runs locked down", () => {
      const deployment = find(objects, "Deployment", "origin");
      const pod = deployment.spec.template.spec;
      const container = pod.containers.find((c: { name: string }) => c.name === "origin");
      expect(container.livenessProbe.httpGet.path).toBe("/healthz");
      expect(container.readinessProbe.httpGet.path).toBe("/readyz");
      expect(container.ports.find((p: { name: string }) => p.name === container.readinessProbe.httpGet.port).containerPort).toBe(8788);
      expect(container.resources.requests.cpu).toBeDefined();
      expect(container.resources.requests.memory).toBeDefined();
      expect(container.resources.limits.memory).toBeDefined();
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
    });

    it("security: secrets come from Secret refs, never literal values", () => {
      for (const o of objects.filter((x) => x.kind === "Deployment")) {
        for (const c of (o as any).spec.template.spec.containers) {
          for (const e of c.env ?? []) {
            if (/SECRET|TOKEN|API_KEY|PASSWORD/.test(e.name)) {
              expect(e.value, `${o.metadata.name}/${e.name}`).toBeUndefined();
              expect(e.valueFrom?.secretKeyRef?.name, `${o.metadata.name}/${e.name}`).toBeTruthy();
            }
          }
        }
      }
    });

    it("happy: TEI and vLLM run on GPU nodes and the origin is wired to them", () => {
      for (const gpu of ["tei", "vllm"]) {
        const container = find(objects, "Deployment", gpu).spec.template.spec.containers[0];
        expect(container.resources.limits["nvidia.com/gpu"]).toBe(1);
      }
      const env = Object.fromEntries(
        find(objects, "Deployment", "origin").spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
          e.name,
          e.value,
        ]),
      );
      expect(env).toMatchObject({
        EMBEDDINGS_BACKEND: "openai",
        GENERATION_BACKEND: "openai",
        EMBEDDINGS_URL: "http://tei/v1",
        GENERATION_URL: "http://vllm/v1",
      });
      find(objects, "Service", "tei");
      find(objects, "Service", "vllm");
    });

    it("happy: every Service selects pods and targets a named container port", () => {
      const deployments = objects.filter((o) => o.kind === "Deployment") as any[];
      for (const service of objects.filter((o) => o.kind === "Service") as any[]) {
        const target = deployments.find((d) => matches(service.spec.selector, d.spec.template.metadata.labels));
        expect(target, service.metadata.name).toBeDefined();
        const ports = target.spec.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) => c.ports ?? []);
        for (const p of service.spec.ports) expect(ports.map((x: { name: string }) => x.name)).toContain(p.targetPort);
      }
    });

    it("happy: the Ingress serves /v1 and /readyz over TLS to the origin Service", () => {
      const ingress = find(objects, "Ingress", "origin");
      const ruleHosts = ingress.spec.rules.map((r: { host: string }) => r.host);
      expect(ingress.spec.tls[0].secretName).toBeTruthy();
      expect(ingress.spec.tls[0].hosts).toEqual(ruleHosts);
      const paths = ingress.spec.rules.flatMap((r: any) => r.http.paths);
      // The worker probes /readyz for its own /ready; liveness and /metrics stay in-cluster.
      expect(paths.map((p: { path: string }) => p.path)).toEqual(["/v1", "/readyz"]);
      for (const p of paths) {
        const service = find(objects, "Service", p.backend.service.name);
        expect(service.spec.ports.map((x: { name: string }) => x.name)).toContain(p.backend.service.port.name);
      }
    });

    it("happy: the HPA scales the origin on CPU and request rate; the PDB covers its pods", () => {
      const hpa = find(objects, "HorizontalPodAutoscaler", "origin");
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "origin" });
      expect(hpa.spec.metrics.find((m: any) => m.type === "Resource").resource.name).toBe("cpu");
      expect(hpa.spec.metrics.find((m: any) => m.type === "Pods").pods.metric.name).toBe("origin_http_requests_per_second");
      expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
      const pdb = find(objects, "PodDisruptionBudget", "origin");
      const labels = find(objects, "Deployment", "origin").spec.template.metadata.labels;
      expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    });

    it("security: NetworkPolicies let only the ingress controller (and Prometheus) reach the origin, and only the origin reach TEI/vLLM", () => {
      const origin = find(objects, "NetworkPolicy", "origin");
      expect(origin.spec.policyTypes).toContain("Ingress");
      const sources = origin.spec.ingress.flatMap((rule: any) =>
        rule.from.map((f: any) => f.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"]),
      );
      expect(sources.sort()).toEqual(["ingress-nginx", "monitoring"]);
      for (const gpu of ["tei", "vllm"]) {
        const policy = find(objects, "NetworkPolicy", gpu);
        expect(policy.spec.ingress).toHaveLength(1);
        expect(policy.spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: { "app.kubernetes.io/name": "origin" } } }]);
      }
    });

    if (name === "production") {
      it("happy: production pins the image and keeps at least 3 replicas", () => {
        expect(find(objects, "Deployment", "origin").spec.template.spec.containers[0].image).not.toMatch(/:latest$/);
        expect(find(objects, "HorizontalPodAutoscaler", "origin").spec.minReplicas).toBeGreaterThanOrEqual(3);
      });
    }
  });
}
